"""Where a TERMINATED_HTTPS listener's TLS files live on the amphora, and the crt-list that
names them (pure; the controller uploads the files, the renderer points HAProxy at them).

All files sit in the load balancer's directory of the agent (`<base_path>/<lb_id>/`, mode
0600, removed with the LB): each certificate as `<sha1 of its PEM bundle>.pem`, the client
CA and CRL as `<sha1 of the content>.pem`, and the listener's crt-list as
`<listener_id>.pem`, one absolute path a line, the default certificate first (HAProxy
serves the first line to clients whose SNI matches no certificate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError

_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.pem")


@dataclass(frozen=True)
class ListenerTLSFiles:
    certificates: list[str] = field(default_factory=list)  # default first, then SNI
    ca_file: str | None = None
    crl_file: str | None = None


@dataclass(frozen=True)
class PoolTLSFiles:
    """A re-encrypting pool's files: client certificate for members, CA to verify them, CRL."""
    certificate: str | None = None
    ca_file: str | None = None
    crl_file: str | None = None


def file_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise RenderError(f"{what}: not a TLS file name: {name!r}")
    return name


def lb_dir(base_path: str, lb_id: str) -> str:
    return f"{v.absolute_path(base_path, 'base_path')}/{v.uuid_id(lb_id, 'load balancer id')}"


def crt_list_name(listener_id: str) -> str:
    return f"{v.uuid_id(listener_id, 'listener id')}.pem"


def path(base_path: str, lb_id: str, name: str, what: str) -> str:
    return f"{lb_dir(base_path, lb_id)}/{file_name(name, what)}"


def render_crt_list(base_path: str, lb_id: str, listener_id: str,
                    files: ListenerTLSFiles) -> str:
    if not files.certificates:
        raise RenderError(f"listener {listener_id}: no certificate for TERMINATED_HTTPS")
    return "".join(f"{path(base_path, lb_id, name, f'listener {listener_id}')}\n"
                   for name in dict.fromkeys(files.certificates))

"""TLS on the amphora: where a TERMINATED_HTTPS listener's or a re-encrypting pool's TLS
files live, the crt-list that names them (pure; the controller uploads the files), and the
TLS parts of the HAProxy configuration that point HAProxy at them: the `bind ... ssl`
options and HSTS header of a listener, the `server ... ssl` options of a pool's members,
and the client-certificate headers sent to members.

All files sit in the load balancer's directory of the agent (`<base_path>/<lb_id>/`, mode
0600, removed with the LB): each certificate as `<sha1 of its PEM bundle>.pem`, the client
CA and CRL as `<sha1 of the content>.pem`, and the listener's crt-list as
`<listener_id>.pem`, one absolute path a line, the default certificate first (HAProxy
serves the first line to clients whose SNI matches no certificate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError
from octolb.amphora.render.model import ServerTls, attr

_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.pem")
# TERMINATED_HTTPS insert_headers key -> the client-certificate fetch HAProxy sets it to
CLIENT_CERT_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]", "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]", "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]", "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]"}
_CLIENT_VERIFY = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}


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


# --- the TLS parts of the configuration --------------------------------------------------

def bind_options(listener: Any, tls_files: dict[str, ListenerTLSFiles], base_path: str,
                 lb_id: str) -> str:
    """`ssl crt-list ...` and the client-auth, cipher, version and ALPN options of a
    TERMINATED_HTTPS listener's `bind` line."""
    what = f"listener {listener.id}"
    files = tls_files.get(listener.id)
    if files is None or not files.certificates:
        raise RenderError(f"{what}: TERMINATED_HTTPS without its certificate files")
    for name in files.certificates:  # named by the crt-list the controller uploads
        path(base_path, lb_id, name, what)
    crt_list = path(base_path, lb_id, crt_list_name(listener.id), what)
    options = [f"ssl crt-list {crt_list}"]
    if files.ca_file:
        mode = attr(listener, "client_authentication", "NONE")
        if mode not in _CLIENT_VERIFY:
            raise RenderError(f"{what}: unknown client_authentication {mode!r}")
        options.append(f"ca-file {path(base_path, lb_id, files.ca_file, what)}"
                       f" verify {_CLIENT_VERIFY[mode]}")
        if files.crl_file:
            options.append(
                f"crl-file {path(base_path, lb_id, files.crl_file, what)}")
    ciphers = attr(listener, "tls_ciphers")
    if ciphers:
        options.append(f"ciphers {v.ciphers(ciphers, f'{what} tls_ciphers')}")
    versions = attr(listener, "tls_versions")
    if versions:
        options.extend(v.excluded_tls_versions(versions, f"{what} tls_versions"))
    alpn = attr(listener, "alpn_protocols")
    if alpn:
        options.append(f"alpn {v.alpn_list(alpn, f'{what} alpn_protocols')}")
    return " ".join(options)


def hsts_headers(listener: Any) -> list[tuple[str, str]]:
    """The `Strict-Transport-Security` response header of a TERMINATED_HTTPS listener."""
    max_age = attr(listener, "hsts_max_age")
    if max_age is None:
        return []
    seconds = v.integer(max_age, f"listener {listener.id} hsts_max_age", 0, 2**31 - 1)
    value = f"max-age={seconds};"
    if attr(listener, "hsts_include_subdomains", False):
        value += " includeSubDomains;"
    if attr(listener, "hsts_preload", False):
        value += " preload;"
    return [("Strict-Transport-Security", f'"{value}"')]


def server_tls(pool: Any, what: str, pool_tls_files: dict[str, PoolTLSFiles],
               base_path: str, lb_id: str) -> ServerTls | None:
    """Re-encryption to members (`tls_enabled`), with the pool's client certificate, CA
    and CRL files when it has references (named by `pool_tls_files`)."""
    if not attr(pool, "tls_enabled", False):
        return None
    paths: dict[str, str | None] = {"crt": None, "ca_file": None, "crl_file": None}
    if any(attr(pool, ref) for ref in ("tls_container_ref", "ca_tls_container_ref",
                                       "crl_container_ref")):
        files = pool_tls_files.get(pool.id)
        if files is None:
            raise RenderError(f"{what}: TLS references without their files")
        for key, name in (("crt", files.certificate), ("ca_file", files.ca_file),
                          ("crl_file", files.crl_file)):
            if name:
                paths[key] = path(base_path, lb_id, name, what)
        if paths["crl_file"] and not paths["ca_file"]:
            raise RenderError(f"{what}: a CRL needs a CA")
    cipher_list = attr(pool, "tls_ciphers")
    versions = attr(pool, "tls_versions")
    alpn = attr(pool, "alpn_protocols")
    return ServerTls(
        ciphers=v.ciphers(cipher_list, f"{what} tls_ciphers") if cipher_list else None,
        no_versions=(v.excluded_tls_versions(versions, f"{what} tls_versions")
                     if versions else []),
        alpn=v.alpn_list(alpn, f"{what} alpn_protocols") if alpn else None,
        **paths,
    )

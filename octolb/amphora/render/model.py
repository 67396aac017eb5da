"""What the renderer reads and what it hands the template.

Readers of the duck-typed input graph (the ORM objects of `octolb.db.models`, persistent or
transient, or anything with the same attribute names; an attribute that is None on a
transient object means its default, since column defaults apply only at flush), and the
small frozen views the template lays out: every string in a view is already validated and
escaped, safe to write as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from octolb import constants as c
from octolb.amphora.render import values as v

# --- views handed to the template: every string in them is already safe to write ---


@dataclass(frozen=True)
class Check:
    inter: int
    fastinter_ms: int
    fall: int
    rise: int
    ssl: bool
    alpn: str | None
    addr: str | None
    port: int | None


@dataclass(frozen=True)
class ServerTls:
    ciphers: str | None
    no_versions: list[str]
    alpn: str | None
    crt: str | None = None  # absolute paths of the pool's TLS files
    ca_file: str | None = None
    crl_file: str | None = None


@dataclass(frozen=True)
class Server:
    name: str
    endpoint: str
    weight: int
    check: Check | None
    cookie: str | None
    send_proxy: str | None
    backup: bool
    disabled: bool
    tls: ServerTls | None


@dataclass(frozen=True)
class Persistence:
    kind: str  # SOURCE_IP | HTTP_COOKIE | APP_COOKIE
    cookie_name: str | None
    stick_size: str
    peers: str | None


@dataclass(frozen=True)
class Monitor:
    timeout: int
    kind: str  # "http" or "tcp"
    method: str | None = None
    url_path: str | None = None
    version: str | None = None
    host: str | None = None
    expect_rstatus: str | None = None
    command: str | None = None  # kind "ping": the external-check script


@dataclass(frozen=True)
class Backend:
    name: str
    mode: str
    http_reuse: bool
    balance: str
    persistence: Persistence | None
    monitor: Monitor | None
    load_server_state: bool
    forwardfor: bool
    set_headers: list[tuple[str, str]]
    fullconn: int
    timeout_connect: int
    timeout_server: int
    servers: list[Server]


@dataclass(frozen=True)
class Frontend:
    name: str
    maxconn: int
    binds: list[str]
    mode: str
    default_backend: str | None
    timeout_client: int
    inspect_delay: int
    log_format: str | None
    backends: list[Backend] = field(default_factory=list)
    # allowed_cidrs in chunks of CIDRS_PER_ACL_LINE (haproxy.py); empty: every source is
    # let in
    allowed_cidrs: list[list[str]] = field(default_factory=list)
    # L7 policies, in the order their lines must appear (see l7.py)
    l7: list[L7Block] = field(default_factory=list)
    # `http-response set-header` lines (HSTS)
    response_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Acl:
    """`acl <name> <criterion>[ <pattern>]`; `pattern` (with its `--`) is escaped already."""
    name: str
    criterion: str
    pattern: str | None


@dataclass(frozen=True)
class L7Block:
    """One policy's ACLs and its action line `<directive> if <condition>` (or a
    `use_backend` line alone, with no ACLs, for a policy decided earlier)."""
    acls: list[Acl]
    directive: str
    condition: str


@dataclass(frozen=True)
class Peer:
    name: str
    endpoint: str


# --- small readers of the duck-typed graph ---

def attr(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name`, or `default` when it is missing or None."""
    value = getattr(obj, name, default)
    return default if value is None else value


def enabled(obj: Any) -> bool:
    return bool(attr(obj, "enabled", True))


def live(obj: Any) -> bool:
    """Rendered at all: not on its way out (PENDING_DELETE / DELETED)."""
    return attr(obj, "provisioning_status") not in (c.PENDING_DELETE, c.DELETED)


def truthy_header(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def timeout(listener_value: Any, default: int, what: str) -> int:
    """Listener timeout in ms; None or 0 falls back to the configured default (Octavia)."""
    value = listener_value if listener_value else default
    return v.integer(value, what, 0, c.MAX_TIMEOUT_MS)

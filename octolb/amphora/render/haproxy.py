"""Render one load balancer's complete HAProxy configuration from its object graph.

The decisions (what is rendered, modes, limits, escaping) are made here in Python and
handed to the template as small, already-validated views; the template only lays out
directives. The graph is read duck-typed: the ORM objects of `octolb.db.models`
(persistent or transient) or anything with the same attribute names. An attribute that
is None on a transient object (column defaults apply only at flush) means its default.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from octolb import constants as c
from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError, UnsupportedFeature
from octolb.amphora.render.tls import ListenerTLSFiles, PoolTLSFiles, crt_list_name
from octolb.amphora.render.tls import path as tls_path

DEFAULT_USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] "
    "%{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)
MAX_GLOBAL_MAXCONN = 1_000_000
MAX_THREADS = 64  # HAProxy 2.6 as built by Debian (haproxy -vv: MAX_THREADS=64)
# The API bounds connection_limit only by HAProxy's integer; a frontend never gets more
# than the global maxconn (at most MAX_GLOBAL_MAXCONN), see render().
MAX_CONNECTION_LIMIT = 2**31 - 1
PEER_PORT = 1025
# File descriptors HAProxy 2.6 (nbthread 1) needs besides two per connection: measured
# on this machine as 2*maxconn + 24 + one per listening socket, + 1 + 3 per peer when a
# peers section exists. 30 leaves a little room (the reference's "2 x maxconn + 30").
FD_RESERVE = 30

_HAPROXY_LISTENER_PROTOCOLS = {c.HTTP: "http", c.HTTPS: "tcp", c.TCP: "tcp",
                               c.TERMINATED_HTTPS: "http"}
# TERMINATED_HTTPS insert_headers key -> the client-certificate fetch HAProxy sets it to
_SSL_HEADERS = {"X-SSL-Client-Verify": "%[ssl_c_verify]", "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
                "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]", "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
                "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]", "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
                "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
                "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]"}
_CLIENT_VERIFY = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}
_POOL_MODES = {c.HTTP: "http", c.HTTPS: "tcp", c.TCP: "tcp"}
# SOURCE_IP_PORT: a hash of "address:port" of the client (HAProxy ≥ 2.6 `balance hash`; the
# port is put in a variable by the backend's first rule, see the template). Octavia's
# amphora offers it only for UDP (LVS); here it works for every HAProxy pool.
SRC_PORT_VAR = "txn.octolb_src_port"
_BALANCE = {c.ROUND_ROBIN: "roundrobin", c.LEAST_CONNECTIONS: "leastconn",
            c.SOURCE_IP: "source", c.SOURCE_IP_PORT: f"hash src,concat(:,{SRC_PORT_VAR})"}
# insert_headers key -> value of `http-request set-header` (constant HAProxy expressions)
_CLIENT_IP_HEADERS = {"X-Forwarded-IP": "%[src]", "X-Client-IP": "%[src]",
                      "X-Real-IP": "%[src]"}
_LOG_PLACEHOLDER = re.compile(r"\{\{\s*(project_id|lb_id)\s*\}\}")
_HTTP_ONLY_LOG_VARS = re.compile(r"%(\{\+Q\})?(r|ST)(?![A-Za-z])")
_TEMPLATES = Path(__file__).parent / "templates"
# L7 rule compare_type -> ACL match method; the transaction variable that records which
# REDIRECT_TO_POOL policy matched when later policies act in the http-request phase
_L7_MATCH = {c.REGEX: "-m reg", c.STARTS_WITH: "-m beg", c.ENDS_WITH: "-m end",
             c.CONTAINS: "-m sub", c.EQUAL_TO: "-m str"}
L7_VAR = "txn.octolb_l7_policy"
# The PING check HAProxy runs (`external-check command`): the agent writes this script into
# its own base_path (octolb/amphora/agent/haproxy.py, PING_SCRIPT there too).
PING_SCRIPT = "ping-wrapper.sh"
# allowed_cidrs become `acl ... src <cidr>...` lines of at most this many networks each
# (HAProxy takes at most 64 words on a line); lines with one ACL name are ORed.
CIDRS_PER_ACL_LINE = 32


# --- views handed to the template: every string in them is already safe to write ---

# Once a check has failed (or succeeded on a DOWN server), HAProxy re-checks after
# `fastinter` instead of `inter`: a dead member leaves rotation after one full interval plus
# (fall - 1) quick confirmations, not fall full intervals as in Octavia's rendering.
TRANSITION_CHECK_MS = 500


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
    # allowed_cidrs in chunks of CIDRS_PER_ACL_LINE; empty: every source is let in
    allowed_cidrs: list[list[str]] = field(default_factory=list)
    # L7 policies, in the order their lines must appear (see _l7)
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

def _get(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, default)
    return default if value is None else value


def _enabled(obj: Any) -> bool:
    return bool(_get(obj, "enabled", True))


def _live(obj: Any) -> bool:
    """Rendered at all: not on its way out (PENDING_DELETE / DELETED)."""
    return _get(obj, "provisioning_status") not in (c.PENDING_DELETE, c.DELETED)


def _truthy_header(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _timeout(listener_value: Any, default: int, what: str) -> int:
    """Listener timeout in ms; None or 0 falls back to the configured default (Octavia)."""
    value = listener_value if listener_value else default
    return v.integer(value, what, 0, c.MAX_TIMEOUT_MS)


# --- the public entry points ---

def config_hash(text: str) -> str:
    """sha256 hex of a rendered configuration: the controller skips unchanged pushes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def max_conn_for_fds(max_fds: int, *, listening_sockets: int = 1, peers: int = 0,
                     threads: int = 1) -> int:
    """The largest global maxconn HAProxy 2.6 can start with under `max_fds` open files.

    HAProxy needs about 2 descriptors per connection plus a fixed reserve, one per
    listening socket and, with a peers section, 1 + 3 per peer; if that exceeds the open
    files limit it refuses to start ("Cannot raise FD limit"), and `haproxy -c` does not
    notice. Never above (max_fds - 30) // 2. Each thread past the first takes 3 more
    descriptors (its poller and wake-up pipe; measured with HAProxy 2.6 on this machine).
    """
    reserve = (FD_RESERVE + listening_sockets + (1 + 3 * peers if peers else 0)
               + 3 * (threads - 1))
    return (max_fds - reserve) // 2


def render_haproxy_config(
    lb: Any,
    *,
    amphora_id: str,
    base_path: str,
    max_fds: int | None = None,
    connection_logging: bool = False,
    log_target: str | None = None,
    log_facility: int = 0,
    user_log_format: str = DEFAULT_USER_LOG_FORMAT,
    default_connection_limit: int = 50000,
    timeout_client_data: int = 50000,
    timeout_member_connect: int = 5000,
    timeout_member_data: int = 50000,
    timeout_tcp_inspect: int = 0,
    hard_stop_after: str = "30s",
    stick_size: str = "10k",
    load_server_state: bool = False,
    max_connections: int | None = None,
    threads: int = 1,
    tls_files: dict[str, ListenerTLSFiles] | None = None,
    pool_tls_files: dict[str, PoolTLSFiles] | None = None,
) -> str:
    """The complete HAProxy configuration of `lb` as served by amphora `amphora_id`.

    - `base_path`: the agent's directory, HAProxy's working directory there; the stats
      socket is `unix@<lb_id>.sock` (relative to it) and, with `load_server_state`, the
      state file is `<base_path>/<lb_id>/servers-state`.
    - `max_fds`: the open-files limit HAProxy will run under; global maxconn (and every
      frontend maxconn / backend fullconn) is clamped so HAProxy can start. None: no clamp.
    - `connection_logging`: `log global` + a per-frontend `log-format`; needs `log_target`
      (a unix socket path, `ip:port`, ...), since there is no rsyslog here.
    - Timeouts are the `[haproxy_amphora]` defaults (ms) used when a listener has none.
    - `max_connections` (a flavor's `haproxy_maxconn`): the most connections the whole LB
      accepts (global maxconn, and so every frontend's); None: the sum of the listeners'.
    - `threads` (a flavor's `haproxy_nbthread`): HAProxy's nbthread.
    - `tls_files`: per TERMINATED_HTTPS listener id, the names of its certificate, client
      CA and CRL files in the LB's directory (render/tls.py); the controller uploads them.
    - `pool_tls_files`: the same for pools with `tls_enabled` and TLS references.

    Raises RenderError for a value that cannot be written safely and UnsupportedFeature
    (a RenderError) for what this renderer does not implement.
    """
    return _Renderer(
        lb, amphora_id=amphora_id, base_path=base_path, max_fds=max_fds,
        connection_logging=connection_logging, log_target=log_target,
        log_facility=log_facility, user_log_format=user_log_format,
        default_connection_limit=default_connection_limit,
        timeout_client_data=timeout_client_data,
        timeout_member_connect=timeout_member_connect,
        timeout_member_data=timeout_member_data, timeout_tcp_inspect=timeout_tcp_inspect,
        hard_stop_after=hard_stop_after, stick_size=stick_size,
        load_server_state=load_server_state, max_connections=max_connections,
        threads=threads, tls_files=tls_files, pool_tls_files=pool_tls_files,
    ).render()


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("haproxy.cfg.j2")


class _Renderer:
    """One rendering: validates the options, walks the graph, fills the template."""

    def __init__(self, lb: Any, *, amphora_id: str, base_path: str, max_fds: int | None,
                 connection_logging: bool, log_target: str | None, log_facility: int,
                 user_log_format: str, default_connection_limit: int,
                 timeout_client_data: int, timeout_member_connect: int,
                 timeout_member_data: int, timeout_tcp_inspect: int, hard_stop_after: str,
                 stick_size: str, load_server_state: bool,
                 max_connections: int | None = None, threads: int = 1,
                 tls_files: dict[str, ListenerTLSFiles] | None = None,
                 pool_tls_files: dict[str, PoolTLSFiles] | None = None) -> None:
        self.lb = lb
        self.tls_files = dict(tls_files or {})
        self.pool_tls_files = dict(pool_tls_files or {})
        self.lb_id = v.uuid_id(lb.id, "load balancer id")
        self.amphora_id = v.uuid_id(amphora_id, "amphora id")
        self.base_path = v.absolute_path(base_path, "base_path")
        self.max_fds = None if max_fds is None else v.integer(max_fds, "max_fds", 1, 2**31)
        self.connection_logging = bool(connection_logging)
        if self.connection_logging and log_target is None:
            raise RenderError("connection_logging needs a log_target: HAProxy has nowhere "
                              "to send the log lines otherwise")
        self.log_target = None if log_target is None else v.log_target(log_target)
        self.log_facility = v.integer(log_facility, "log_facility", 0, 7)
        self.user_log_format = user_log_format
        self.default_connection_limit = v.integer(
            default_connection_limit, "default_connection_limit", 1, MAX_GLOBAL_MAXCONN)
        self.timeout_client_data = timeout_client_data
        self.timeout_member_connect = timeout_member_connect
        self.timeout_member_data = timeout_member_data
        self.timeout_tcp_inspect = timeout_tcp_inspect
        self.hard_stop_after = v.duration(hard_stop_after, "hard_stop_after")
        self.stick_size = v.size(stick_size, "stick_size")
        self.load_server_state = bool(load_server_state)
        self.max_connections = (None if max_connections is None else v.integer(
            max_connections, "max_connections", 1, MAX_GLOBAL_MAXCONN))
        self.threads = v.integer(threads, "threads", 1, MAX_THREADS)

    # -- sections --

    def render(self) -> str:
        listeners = self._listeners()
        peers, peers_section = self._peers()
        limits = [self._connection_limit(listener) for listener in listeners]
        total = sum(limits)
        global_maxconn = total if 0 < total < MAX_GLOBAL_MAXCONN else MAX_GLOBAL_MAXCONN
        if self.max_connections is not None:
            global_maxconn = min(global_maxconn, self.max_connections)
        if self.max_fds is not None:
            ceiling = max_conn_for_fds(self.max_fds, listening_sockets=1 + len(listeners),
                                       peers=len(peers), threads=self.threads)
            if ceiling < 1:
                raise RenderError(f"max_fds {self.max_fds} leaves no room for connections")
            global_maxconn = min(global_maxconn, ceiling)

        frontends = [
            self._frontend(listener, min(limit, global_maxconn), peers_section)
            for listener, limit in zip(listeners, limits, strict=True)
        ]
        # Relative to HAProxy's working directory, which the agent sets to its base path:
        # an absolute path could exceed HAProxy's 97-character limit for socket paths.
        stats_socket = f"unix@{self.lb_id}.sock"
        text = _template().render(
            lb_id=self.lb_id,
            amphora_id=self.amphora_id,
            stats_socket=stats_socket,
            state_file=(f"{self.base_path}/{self.lb_id}/servers-state"
                        if self.load_server_state else None),
            maxconn=global_maxconn,
            nbthread=self.threads,
            hard_stop_after=self.hard_stop_after,
            log_target=self.log_target if self.connection_logging else None,
            log_facility=self.log_facility,
            connection_logging=self.connection_logging,
            local_peer=self.amphora_id if peers_section else None,
            peers_section=peers_section,
            peers=peers,
            frontends=frontends,
            # global `external-check` (+ `insecure-fork-wanted`, HAProxy >= 2.2) only when
            # a rendered backend runs a PING check: forking stays forbidden otherwise.
            external_check=any(be.monitor is not None and be.monitor.kind == "ping"
                               for fe in frontends for be in fe.backends),
        )
        # Last line of defence: whatever happened above, no stray control character.
        for ch in text:
            if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
                raise RenderError(f"rendered configuration contains {ch!r}")
        return text

    def _listeners(self) -> list[Any]:
        """The listeners that get a frontend: none when the LB is disabled."""
        if not _enabled(self.lb):
            return []
        chosen = []
        for listener in _get(self.lb, "listeners", []):
            if not _enabled(listener) or not _live(listener):
                continue
            v.uuid_id(listener.id, "listener id")
            if listener.protocol not in _HAPROXY_LISTENER_PROTOCOLS:
                raise UnsupportedFeature(
                    f"listener {listener.id}: protocol {listener.protocol!r} is not "
                    f"supported by this renderer yet")
            chosen.append(listener)
        return chosen

    def _peers(self) -> tuple[list[Peer], str | None]:
        """ACTIVE_STANDBY: a peers section so stick tables survive a failover.

        Members: the LB's ALLOCATED amphorae with a VRRP address, plus this amphora
        whatever its status (it may be being built). Without a VRRP address for this
        amphora there is no section (stick tables then stay local).
        """
        if _get(self.lb, "topology") != c.TOPOLOGY_ACTIVE_STANDBY:
            return [], None
        peers = []
        me_found = False
        for amp in _get(self.lb, "amphorae", []):
            vrrp_ip = getattr(amp, "vrrp_ip", None)
            is_me = getattr(amp, "id", None) == self.amphora_id
            if not vrrp_ip or not (is_me or getattr(amp, "status", None) == c.ALLOCATED):
                continue
            me_found = me_found or is_me
            peers.append(Peer(name=v.uuid_id(amp.id, "amphora id"),
                              endpoint=v.endpoint(vrrp_ip, PEER_PORT, "amphora vrrp_ip")))
        if not me_found:
            return [], None
        return peers, f"{self.lb_id.replace('-', '')}_peers"

    def _connection_limit(self, listener: Any) -> int:
        limit = _get(listener, "connection_limit", -1)
        if limit in (-1, 0):
            # Octavia renders `if connection_limit and connection_limit > -1`: 0 is the
            # default too (and `maxconn 0` would mean HAProxy's own default).
            return self.default_connection_limit
        return v.integer(limit, f"listener {listener.id} connection_limit", 0,
                         MAX_CONNECTION_LIMIT)

    def _frontend(self, listener: Any, maxconn: int, peers_section: str | None) -> Frontend:
        mode = _HAPROXY_LISTENER_PROTOCOLS[listener.protocol]
        vip = _get(self.lb, "vip_address")
        if vip is None:
            raise RenderError(f"load balancer {self.lb_id} has no vip_address to bind")
        bind = v.endpoint(vip, listener.protocol_port, f"listener {listener.id} VIP")
        response_headers: list[tuple[str, str]] = []
        if listener.protocol == c.TERMINATED_HTTPS:
            bind = f"{bind} {self._ssl_bind_options(listener)}"
            response_headers = self._hsts(listener)

        backends = []
        default_backend = None
        pool = getattr(listener, "default_pool", None)
        if pool is not None and _enabled(pool) and _live(pool):
            backend = self._backend(pool, listener, mode, maxconn, peers_section)
            backends.append(backend)
            default_backend = backend.name
        l7 = self._l7(listener, mode, maxconn, peers_section, backends)

        inspect = _get(listener, "timeout_tcp_inspect", self.timeout_tcp_inspect)
        return Frontend(
            name=listener.id,
            maxconn=maxconn,
            binds=[bind],
            mode=mode,
            default_backend=default_backend,
            timeout_client=_timeout(_get(listener, "timeout_client_data"),
                                    self.timeout_client_data,
                                    f"listener {listener.id} timeout_client_data"),
            inspect_delay=v.integer(inspect, f"listener {listener.id} timeout_tcp_inspect",
                                    0, c.MAX_TIMEOUT_MS),
            log_format=self._log_format(listener) if self.connection_logging else None,
            backends=backends,
            allowed_cidrs=self._allowed_cidrs(listener),
            l7=l7,
            response_headers=response_headers,
        )

    def _ssl_bind_options(self, listener: Any) -> str:
        """`ssl crt-list ...` and the client-auth, cipher, version and ALPN options."""
        what = f"listener {listener.id}"
        files = self.tls_files.get(listener.id)
        if files is None or not files.certificates:
            raise RenderError(f"{what}: TERMINATED_HTTPS without its certificate files")
        for name in files.certificates:  # named by the crt-list the controller uploads
            tls_path(self.base_path, self.lb_id, name, what)
        crt_list = tls_path(self.base_path, self.lb_id, crt_list_name(listener.id), what)
        options = [f"ssl crt-list {crt_list}"]
        if files.ca_file:
            mode = _get(listener, "client_authentication", "NONE")
            if mode not in _CLIENT_VERIFY:
                raise RenderError(f"{what}: unknown client_authentication {mode!r}")
            options.append(f"ca-file {tls_path(self.base_path, self.lb_id, files.ca_file, what)}"
                           f" verify {_CLIENT_VERIFY[mode]}")
            if files.crl_file:
                options.append(
                    f"crl-file {tls_path(self.base_path, self.lb_id, files.crl_file, what)}")
        ciphers = _get(listener, "tls_ciphers")
        if ciphers:
            options.append(f"ciphers {v.ciphers(ciphers, f'{what} tls_ciphers')}")
        versions = _get(listener, "tls_versions")
        if versions:
            options.extend(v.excluded_tls_versions(versions, f"{what} tls_versions"))
        alpn = _get(listener, "alpn_protocols")
        if alpn:
            options.append(f"alpn {v.alpn_list(alpn, f'{what} alpn_protocols')}")
        return " ".join(options)

    def _hsts(self, listener: Any) -> list[tuple[str, str]]:
        max_age = _get(listener, "hsts_max_age")
        if max_age is None:
            return []
        seconds = v.integer(max_age, f"listener {listener.id} hsts_max_age", 0, 2**31 - 1)
        value = f"max-age={seconds};"
        if _get(listener, "hsts_include_subdomains", False):
            value += " includeSubDomains;"
        if _get(listener, "hsts_preload", False):
            value += " preload;"
        return [("Strict-Transport-Security", f'"{value}"')]

    def _l7(self, listener: Any, mode: str, fullconn: int, peers_section: str | None,
            backends: list[Backend]) -> list[L7Block]:
        """The listener's L7 policies as frontend lines, first match wins.

        As Octavia: in `position` order, each policy's enabled rules ANDed (`!` for
        `invert`), a disabled policy or one without enabled rules left out, REDIRECT_TO_POOL
        only when the pool is enabled (its backend is added to `backends` once). Unlike
        Octavia's rendering, the order also holds across actions: HAProxy runs every
        `http-request` rule before any `use_backend`, so a REDIRECT_TO_POOL policy that
        precedes a REJECT or redirect one decides in the `http-request` phase (it records
        its id in a transaction variable that the later policies then skip on) and its
        `use_backend` follows the last `http-request` line.
        """
        if mode != "http":
            return []
        chosen = []
        for policy in sorted(_get(listener, "l7policies", []),
                             key=lambda p: _get(p, "position", 0)):
            if not (_enabled(policy) and _live(policy)):
                continue
            rules = [r for r in _get(policy, "rules", []) if _enabled(r) and _live(r)]
            if not rules:
                continue
            action = _get(policy, "action")
            pool = getattr(policy, "redirect_pool", None)
            if action == c.REDIRECT_TO_POOL and not (
                    pool is not None and _enabled(pool) and _live(pool)):
                continue
            chosen.append((policy, rules, action, pool))
        last_http_request = max((i for i, (_p, _r, action, _pl) in enumerate(chosen)
                                 if action != c.REDIRECT_TO_POOL), default=-1)
        blocks: list[L7Block] = []
        decided: list[L7Block] = []  # use_backend lines of policies decided by a variable
        for index, (policy, rules, action, pool) in enumerate(chosen):
            pid = v.uuid_id(policy.id, "l7policy id")
            what = f"l7policy {pid}"
            acls = [self._acl(rule, what) for rule in rules]
            terms = " ".join(("!" if _get(rule, "invert", False) else "") + acl.name
                             for rule, acl in zip(rules, acls, strict=True))
            guard = f"!{{ var({L7_VAR}) -m found }} " if decided else ""
            if action == c.REDIRECT_TO_POOL:
                backend = next((b for b in backends if b.name.startswith(f"{pool.id}:")),
                               None)
                if backend is None:
                    backend = self._backend(pool, listener, mode, fullconn, peers_section)
                    backends.append(backend)
                if index < last_http_request:
                    blocks.append(L7Block(acls, f"http-request set-var({L7_VAR}) str({pid})",
                                          guard + terms))
                    decided.append(L7Block([], f"use_backend {backend.name}",
                                           f"{{ var({L7_VAR}) -m str {pid} }}"))
                else:
                    blocks.append(L7Block(acls, f"use_backend {backend.name}", terms))
            elif action == c.REJECT:
                blocks.append(L7Block(acls, "http-request deny", guard + terms))
            elif action in (c.REDIRECT_TO_URL, c.REDIRECT_PREFIX):
                kind, target = (("location", _get(policy, "redirect_url"))
                                if action == c.REDIRECT_TO_URL
                                else ("prefix", _get(policy, "redirect_prefix")))
                code = v.redirect_code(_get(policy, "redirect_http_code", 302),
                                       f"{what} redirect_http_code")
                blocks.append(L7Block(
                    acls, f"http-request redirect {kind} "
                          f"{v.redirect_target(target, f'{what} redirect {kind}')} code {code}",
                    guard + terms))
            else:
                raise RenderError(f"{what}: unknown action {action!r}")
            if index == last_http_request:
                blocks.extend(decided)
        return blocks

    def _acl(self, rule: Any, what: str) -> Acl:
        """One rule as an ACL named after it (Octavia's mapping, amphora-and-controller
        §9.8); the pattern follows `--`, so a value starting with `-` is not a flag."""
        name = v.uuid_id(rule.id, f"{what} rule id")
        rwhat = f"{what} rule {name}"
        rtype, compare = rule.type, rule.compare_type
        if rtype == c.L7RULE_SSL_CONN_HAS_CERT:
            return Acl(name, "ssl_c_used", None)
        if rtype == c.L7RULE_SSL_VERIFY_RESULT:
            result = _get(rule, "value", "")
            if not (isinstance(result, str) and result.isascii() and result.isdigit()):
                raise RenderError(f"{rwhat}: SSL_VERIFY_RESULT needs an integer: {result!r}")
            return Acl(name, f"ssl_c_verify eq {int(result)}", None)
        if compare not in _L7_MATCH:
            raise RenderError(f"{rwhat}: unknown compare_type {compare!r}")
        match = _L7_MATCH[compare]
        if rtype == c.L7RULE_HOST_NAME:
            criterion = f"req.hdr(host) -i {match}"
        elif rtype == c.L7RULE_PATH:
            criterion = f"path {match}"
        elif rtype == c.L7RULE_FILE_TYPE:
            if compare not in (c.EQUAL_TO, c.REGEX):
                raise RenderError(f"{rwhat}: FILE_TYPE compares with EQUAL_TO or REGEX only")
            criterion = "path_end" if compare == c.EQUAL_TO else f"path_end {match}"
        elif rtype == c.L7RULE_HEADER:
            criterion = f"req.hdr({v.http_token(rule.key, f'{rwhat} key')}) {match}"
        elif rtype == c.L7RULE_COOKIE:
            criterion = f"req.cook({v.http_token(rule.key, f'{rwhat} key')}) {match}"
        elif rtype == c.L7RULE_SSL_DN_FIELD:
            criterion = f"ssl_c_s_dn({v.dn_field(rule.key, f'{rwhat} key')}) {match}"
        else:
            raise RenderError(f"{rwhat}: unknown rule type {rtype!r}")
        return Acl(name, criterion, v.acl_pattern(rule.value, compare == c.REGEX,
                                                  f"{rwhat} value"))

    def _allowed_cidrs(self, listener: Any) -> list[list[str]]:
        """The listener's allowed_cidrs, normalised and de-duplicated, in ACL-line chunks."""
        cidrs = _get(listener, "allowed_cidrs", [])
        if not isinstance(cidrs, list | tuple):
            raise RenderError(f"listener {listener.id} allowed_cidrs must be a list: {cidrs!r}")
        networks = list(dict.fromkeys(
            v.cidr(cidr, f"listener {listener.id} allowed_cidrs") for cidr in cidrs))
        return [networks[i:i + CIDRS_PER_ACL_LINE]
                for i in range(0, len(networks), CIDRS_PER_ACL_LINE)]

    def _log_format(self, listener: Any) -> str:
        project_id = _get(self.lb, "project_id", "")
        fmt = self.user_log_format
        if listener.protocol not in (c.HTTP, c.TERMINATED_HTTPS):
            fmt = _HTTP_ONLY_LOG_VARS.sub("-", fmt)
        parts = []
        last = 0
        for m in _LOG_PLACEHOLDER.finditer(fmt):
            parts.append(v.log_format(fmt[last:m.start()]))
            value = project_id if m.group(1) == "project_id" else self.lb_id
            parts.append(v.log_format_literal(value or "-", m.group(1)))
            last = m.end()
        parts.append(v.log_format(fmt[last:]))
        return "".join(parts)

    # -- backends --

    def _backend(self, pool: Any, listener: Any, listener_mode: str, fullconn: int,
                 peers_section: str | None) -> Backend:
        pool_id = v.uuid_id(pool.id, "pool id")
        what = f"pool {pool_id}"
        protocol = pool.protocol
        if protocol not in c.LISTENER_POOL_PROTOCOLS.get(listener.protocol, ()):
            raise RenderError(f"{what}: protocol {protocol!r} cannot serve a "
                              f"{listener.protocol} listener")
        if protocol in (c.PROXY, c.PROXYV2):
            mode = listener_mode
            send_proxy = "send-proxy" if protocol == c.PROXY else "send-proxy-v2"
        else:
            mode = _POOL_MODES[protocol]
            send_proxy = None

        algorithm = pool.lb_algorithm
        if algorithm not in _BALANCE:
            raise RenderError(f"{what}: unknown lb_algorithm {algorithm!r}")

        persistence = self._persistence(pool, mode, peers_section)
        hm = getattr(pool, "health_monitor", None)
        if hm is not None and not (_enabled(hm) and _live(hm)):
            hm = None
        monitor = self._monitor(hm, what) if hm is not None else None
        tls = self._server_tls(pool, what)
        check = self._check_template(hm, pool, what) if hm is not None else None

        headers = _get(listener, "insert_headers", {})
        pool_http = protocol == c.HTTP
        set_headers: list[tuple[str, str]] = []
        if mode == "http":
            if pool_http and _truthy_header(headers.get("X-Forwarded-Port")):
                set_headers.append(("X-Forwarded-Port", "%[dst_port]"))
            if _truthy_header(headers.get("X-Forwarded-Proto")):
                set_headers.append(("X-Forwarded-Proto", "https" if listener.protocol
                                    == c.TERMINATED_HTTPS else "http"))
            if pool_http:
                for name, expression in _CLIENT_IP_HEADERS.items():
                    if _truthy_header(headers.get(name)):
                        set_headers.append((name, expression))
            if listener.protocol == c.TERMINATED_HTTPS:
                for name, expression in _SSL_HEADERS.items():
                    if _truthy_header(headers.get(name)):
                        set_headers.append((name, expression))

        servers = [
            self._server(member, check, persistence, send_proxy, tls, what)
            for member in _get(pool, "members", [])
            if _live(member)
        ]
        return Backend(
            name=f"{pool_id}:{listener.id}",
            mode=mode,
            http_reuse=mode == "http",
            balance=_BALANCE[algorithm],
            persistence=persistence,
            monitor=monitor,
            load_server_state=self.load_server_state and monitor is not None,
            forwardfor=(mode == "http" and pool_http
                        and _truthy_header(headers.get("X-Forwarded-For"))),
            set_headers=set_headers,
            fullconn=fullconn,
            timeout_connect=_timeout(_get(listener, "timeout_member_connect"),
                                     self.timeout_member_connect,
                                     f"listener {listener.id} timeout_member_connect"),
            timeout_server=_timeout(_get(listener, "timeout_member_data"),
                                    self.timeout_member_data,
                                    f"listener {listener.id} timeout_member_data"),
            servers=servers,
        )

    def _persistence(self, pool: Any, mode: str, peers_section: str | None
                     ) -> Persistence | None:
        sp = _get(pool, "session_persistence")
        if not sp:
            return None
        kind = sp.get("type") if isinstance(sp, dict) else getattr(sp, "type", None)
        if kind == c.SOURCE_IP:
            return Persistence(c.SOURCE_IP, None, self.stick_size, peers_section)
        if kind not in (c.HTTP_COOKIE, c.APP_COOKIE):
            raise RenderError(f"pool {pool.id}: unknown session persistence type {kind!r}")
        if mode != "http":
            # HAProxy ignores cookies outside HTTP mode (Octavia renders them and HAProxy
            # warns); the API accepts this, so render nothing rather than fail the LB.
            return None
        if kind == c.HTTP_COOKIE:
            return Persistence(c.HTTP_COOKIE, None, self.stick_size, None)
        name = sp.get("cookie_name") if isinstance(sp, dict) else getattr(
            sp, "cookie_name", None)
        if not name:
            raise RenderError(f"pool {pool.id}: APP_COOKIE persistence without cookie_name")
        return Persistence(c.APP_COOKIE, v.cookie_name(name), self.stick_size, peers_section)

    def _monitor(self, hm: Any, what: str) -> Monitor:
        kind = hm.type
        timeout = v.integer(hm.timeout, f"{what} health monitor timeout", 1, 86400)
        if kind in (c.HM_HTTP, c.HM_HTTPS):
            version = v.http_version(getattr(hm, "http_version", None))
            domain = _get(hm, "domain_name")
            host = v.domain_name(domain) if domain and version == "1.1" else None
            return Monitor(
                timeout=timeout, kind="http",
                method=v.http_method(_get(hm, "http_method", "GET")),
                url_path=v.url_path(_get(hm, "url_path", "/")),
                version=version,
                host=host,
                expect_rstatus=v.expected_codes_regex(_get(hm, "expected_codes", "200")),
            )
        if kind in (c.HM_TCP, c.HM_TLS_HELLO):
            # TLS-HELLO: HAProxy's ssl-hello-chk sends an SSLv3 hello that current TLS
            # stacks reject, and Octavia's replacement (a plain connect) cannot tell a TLS
            # member from any listening socket. Here the check is a real TLS handshake
            # (`check-ssl verify none`, no layer-7 request, see _check_template): a member
            # that does not complete a TLS hello is down, as the monitor type promises.
            return Monitor(timeout=timeout, kind="tcp")
        if kind == c.HM_PING:
            # One ICMP echo per check by the agent's script; the member's address reaches it
            # from HAProxy (argument and environment), never through this file.
            return Monitor(timeout=timeout, kind="ping",
                           command=f"{self.base_path}/{PING_SCRIPT}")
        raise UnsupportedFeature(f"{what}: health monitor type {kind!r} is not supported "
                                 f"for HAProxy pools")

    def _check_template(self, hm: Any, pool: Any, what: str) -> Check:
        """The per-server check options shared by all members (addr/port filled later)."""
        tls = bool(_get(pool, "tls_enabled", False))
        alpn = _get(pool, "alpn_protocols")
        inter = v.integer(hm.delay, f"{what} health monitor delay", 1, 86400)
        return Check(
            inter=inter,
            fastinter_ms=min(inter * 1000, TRANSITION_CHECK_MS),
            fall=v.integer(_get(hm, "fall_threshold", 3),
                           f"{what} health monitor max_retries_down", 1, 10),
            rise=v.integer(hm.rise_threshold, f"{what} health monitor max_retries", 1, 10),
            ssl=hm.type in (c.HM_HTTPS, c.HM_TLS_HELLO),
            alpn=v.alpn_list(alpn, f"{what} alpn_protocols") if tls and alpn else None,
            addr=None,
            port=None,
        )

    def _server_tls(self, pool: Any, what: str) -> ServerTls | None:
        """Re-encryption to members (`tls_enabled`), with the pool's client certificate, CA
        and CRL files when it has references (named by `pool_tls_files`)."""
        if not _get(pool, "tls_enabled", False):
            return None
        paths: dict[str, str | None] = {"crt": None, "ca_file": None, "crl_file": None}
        if any(_get(pool, ref) for ref in ("tls_container_ref", "ca_tls_container_ref",
                                           "crl_container_ref")):
            files = self.pool_tls_files.get(pool.id)
            if files is None:
                raise RenderError(f"{what}: TLS references without their files")
            for key, name in (("crt", files.certificate), ("ca_file", files.ca_file),
                              ("crl_file", files.crl_file)):
                if name:
                    paths[key] = tls_path(self.base_path, self.lb_id, name, what)
            if paths["crl_file"] and not paths["ca_file"]:
                raise RenderError(f"{what}: a CRL needs a CA")
        cipher_list = _get(pool, "tls_ciphers")
        versions = _get(pool, "tls_versions")
        alpn = _get(pool, "alpn_protocols")
        return ServerTls(
            ciphers=v.ciphers(cipher_list, f"{what} tls_ciphers") if cipher_list else None,
            no_versions=(v.excluded_tls_versions(versions, f"{what} tls_versions")
                         if versions else []),
            alpn=v.alpn_list(alpn, f"{what} alpn_protocols") if alpn else None,
            **paths,
        )

    def _server(self, member: Any, check: Check | None, persistence: Persistence | None,
                send_proxy: str | None, tls: ServerTls | None, what: str) -> Server:
        member_id = v.uuid_id(member.id, f"{what} member id")
        mwhat = f"member {member_id}"
        if check is not None:
            monitor_address = _get(member, "monitor_address")
            monitor_port = _get(member, "monitor_port")
            check = Check(
                inter=check.inter, fastinter_ms=check.fastinter_ms, fall=check.fall,
                rise=check.rise, ssl=check.ssl, alpn=check.alpn,
                addr=(v.bare_address(monitor_address, f"{mwhat} monitor_address")
                      if monitor_address else None),
                port=(v.port(monitor_port, f"{mwhat} monitor_port")
                      if monitor_port else None),
            )
        return Server(
            name=member_id,
            endpoint=v.endpoint(member.ip_address, member.protocol_port, mwhat),
            weight=v.integer(_get(member, "weight", 1), f"{mwhat} weight", 0, 256),
            check=check,
            cookie=(member_id if persistence is not None
                    and persistence.kind == c.HTTP_COOKIE else None),
            send_proxy=send_proxy,
            backup=bool(_get(member, "backup", False)),
            disabled=not _enabled(member),
            tls=tls,
        )

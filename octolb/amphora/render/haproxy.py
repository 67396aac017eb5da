"""Render one load balancer's complete HAProxy configuration from its object graph.

The decisions (what is rendered, modes, limits, escaping) are made in Python and handed to
the template as small, already-validated views (model.py); the template only lays out
directives. This module is the entry point: it validates the options, lays out the global
section, peers and one frontend per listener; the rest lives beside it:

- model.py    the views and the readers of the duck-typed graph
- backend.py  pools, members and health monitors
- l7.py       L7 policies and rules
- tls.py      TLS files, `bind ... ssl` and `server ... ssl` options, HSTS
- limits.py   maxconn bounds and the open-files clamp
- values.py   validation and escaping of every single value
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import jinja2

from octolb import constants as c
from octolb.amphora.render import backend as be
from octolb.amphora.render import tls
from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError, UnsupportedFeature
from octolb.amphora.render.l7 import l7_blocks
from octolb.amphora.render.limits import (
    MAX_CONNECTION_LIMIT,
    MAX_GLOBAL_MAXCONN,
    MAX_THREADS,
    global_maxconn,
)
from octolb.amphora.render.model import (
    Backend,
    Frontend,
    Peer,
    attr,
    enabled,
    live,
    timeout,
)
from octolb.amphora.render.tls import ListenerTLSFiles, PoolTLSFiles

DEFAULT_USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] "
    "%{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)
PEER_PORT = 1025

_HAPROXY_LISTENER_PROTOCOLS = {c.HTTP: "http", c.HTTPS: "tcp", c.TCP: "tcp",
                               c.TERMINATED_HTTPS: "http"}
_LOG_PLACEHOLDER = re.compile(r"\{\{\s*(project_id|lb_id)\s*\}\}")
_HTTP_ONLY_LOG_VARS = re.compile(r"%(\{\+Q\})?(r|ST)(?![A-Za-z])")
_TEMPLATES = Path(__file__).parent / "templates"
# allowed_cidrs become `acl ... src <cidr>...` lines of at most this many networks each
# (HAProxy takes at most 64 words on a line); lines with one ACL name are ORed.
CIDRS_PER_ACL_LINE = 32


# --- the public entry points ---

def config_hash(text: str) -> str:
    """sha256 hex of a rendered configuration: the controller skips unchanged pushes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        self.timeout_tcp_inspect = timeout_tcp_inspect
        self.hard_stop_after = v.duration(hard_stop_after, "hard_stop_after")
        self.load_server_state = bool(load_server_state)
        self.pools = be.PoolOptions(
            lb_id=self.lb_id, base_path=self.base_path,
            stick_size=v.size(stick_size, "stick_size"),
            load_server_state=self.load_server_state,
            timeout_member_connect=timeout_member_connect,
            timeout_member_data=timeout_member_data,
            pool_tls_files=dict(pool_tls_files or {}),
        )
        self.max_connections = (None if max_connections is None else v.integer(
            max_connections, "max_connections", 1, MAX_GLOBAL_MAXCONN))
        self.threads = v.integer(threads, "threads", 1, MAX_THREADS)

    # -- sections --

    def render(self) -> str:
        listeners = self._listeners()
        peers, peers_section = self._peers()
        limits = [self._connection_limit(listener) for listener in listeners]
        maxconn = global_maxconn(limits, max_connections=self.max_connections,
                                 max_fds=self.max_fds, listening_sockets=1 + len(listeners),
                                 peers=len(peers), threads=self.threads)

        frontends = [
            self._frontend(listener, min(limit, maxconn), peers_section)
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
            maxconn=maxconn,
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
            external_check=any(b.monitor is not None and b.monitor.kind == "ping"
                               for fe in frontends for b in fe.backends),
        )
        # Last line of defence: whatever happened above, no stray control character.
        for ch in text:
            if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
                raise RenderError(f"rendered configuration contains {ch!r}")
        return text

    def _listeners(self) -> list[Any]:
        """The listeners that get a frontend: none when the LB is disabled."""
        if not enabled(self.lb):
            return []
        chosen = []
        for listener in attr(self.lb, "listeners", []):
            if not enabled(listener) or not live(listener):
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
        if attr(self.lb, "topology") != c.TOPOLOGY_ACTIVE_STANDBY:
            return [], None
        peers = []
        me_found = False
        for amp in attr(self.lb, "amphorae", []):
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
        limit = attr(listener, "connection_limit", -1)
        if limit in (-1, 0):
            # Octavia renders `if connection_limit and connection_limit > -1`: 0 is the
            # default too (and `maxconn 0` would mean HAProxy's own default).
            return self.default_connection_limit
        return v.integer(limit, f"listener {listener.id} connection_limit", 0,
                         MAX_CONNECTION_LIMIT)

    def _frontend(self, listener: Any, maxconn: int, peers_section: str | None) -> Frontend:
        mode = _HAPROXY_LISTENER_PROTOCOLS[listener.protocol]
        vip = attr(self.lb, "vip_address")
        if vip is None:
            raise RenderError(f"load balancer {self.lb_id} has no vip_address to bind")
        bind = v.endpoint(vip, listener.protocol_port, f"listener {listener.id} VIP")
        response_headers: list[tuple[str, str]] = []
        if listener.protocol == c.TERMINATED_HTTPS:
            bind = (f"{bind} "
                    f"{tls.bind_options(listener, self.tls_files, self.base_path, self.lb_id)}")
            response_headers = tls.hsts_headers(listener)

        def backend_for(pool: Any) -> Backend:
            return be.backend(self.pools, pool, listener, mode, maxconn, peers_section)

        backends = []
        default_backend = None
        pool = getattr(listener, "default_pool", None)
        if pool is not None and enabled(pool) and live(pool):
            backend = backend_for(pool)
            backends.append(backend)
            default_backend = backend.name
        l7 = l7_blocks(listener, mode, backends, backend_for)

        inspect = attr(listener, "timeout_tcp_inspect", self.timeout_tcp_inspect)
        return Frontend(
            name=listener.id,
            maxconn=maxconn,
            binds=[bind],
            mode=mode,
            default_backend=default_backend,
            timeout_client=timeout(attr(listener, "timeout_client_data"),
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

    def _allowed_cidrs(self, listener: Any) -> list[list[str]]:
        """The listener's allowed_cidrs, normalised and de-duplicated, in ACL-line chunks."""
        cidrs = attr(listener, "allowed_cidrs", [])
        if not isinstance(cidrs, list | tuple):
            raise RenderError(f"listener {listener.id} allowed_cidrs must be a list: {cidrs!r}")
        networks = list(dict.fromkeys(
            v.cidr(cidr, f"listener {listener.id} allowed_cidrs") for cidr in cidrs))
        return [networks[i:i + CIDRS_PER_ACL_LINE]
                for i in range(0, len(networks), CIDRS_PER_ACL_LINE)]

    def _log_format(self, listener: Any) -> str:
        project_id = attr(self.lb, "project_id", "")
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

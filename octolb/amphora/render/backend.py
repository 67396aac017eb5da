"""A pool as an HAProxy backend: balancing, session persistence, the health monitor and the
checks it makes of each member, and the members as `server` lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octolb import constants as c
from octolb.amphora.render import tls
from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError, UnsupportedFeature
from octolb.amphora.render.model import (
    Backend,
    Check,
    Monitor,
    Persistence,
    Server,
    ServerTls,
    attr,
    enabled,
    live,
    timeout,
    truthy_header,
)
from octolb.amphora.render.tls import PoolTLSFiles

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
# The PING check HAProxy runs (`external-check command`): the agent writes this script into
# its own base_path (octolb/amphora/agent/haproxy.py, PING_SCRIPT there too).
PING_SCRIPT = "ping-wrapper.sh"
# Once a check has failed (or succeeded on a DOWN server), HAProxy re-checks after
# `fastinter` instead of `inter`: a dead member leaves rotation after one full interval plus
# (fall - 1) quick confirmations, not fall full intervals as in Octavia's rendering.
TRANSITION_CHECK_MS = 500


@dataclass(frozen=True)
class PoolOptions:
    """What rendering a pool takes from the renderer's options, validated already."""
    lb_id: str
    base_path: str
    stick_size: str
    load_server_state: bool
    timeout_member_connect: int  # defaults (ms) for a listener without its own
    timeout_member_data: int
    pool_tls_files: dict[str, PoolTLSFiles]


def backend(opts: PoolOptions, pool: Any, listener: Any, listener_mode: str, fullconn: int,
            peers_section: str | None) -> Backend:
    """`pool` as the backend of `listener` (one backend per pool and listener)."""
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

    persistence = _persistence(pool, mode, peers_section, opts.stick_size)
    hm = getattr(pool, "health_monitor", None)
    if hm is not None and not (enabled(hm) and live(hm)):
        hm = None
    monitor = _monitor(hm, what, opts.base_path) if hm is not None else None
    server_tls = tls.server_tls(pool, what, opts.pool_tls_files, opts.base_path, opts.lb_id)
    check = _check_template(hm, pool, what) if hm is not None else None

    headers = attr(listener, "insert_headers", {})
    pool_http = protocol == c.HTTP
    set_headers: list[tuple[str, str]] = []
    if mode == "http":
        if pool_http and truthy_header(headers.get("X-Forwarded-Port")):
            set_headers.append(("X-Forwarded-Port", "%[dst_port]"))
        if truthy_header(headers.get("X-Forwarded-Proto")):
            set_headers.append(("X-Forwarded-Proto", "https" if listener.protocol
                                == c.TERMINATED_HTTPS else "http"))
        if pool_http:
            for name, expression in _CLIENT_IP_HEADERS.items():
                if truthy_header(headers.get(name)):
                    set_headers.append((name, expression))
        if listener.protocol == c.TERMINATED_HTTPS:
            for name, expression in tls.CLIENT_CERT_HEADERS.items():
                if truthy_header(headers.get(name)):
                    set_headers.append((name, expression))

    servers = [
        _server(member, check, persistence, send_proxy, server_tls, what)
        for member in attr(pool, "members", [])
        if live(member)
    ]
    return Backend(
        name=f"{pool_id}:{listener.id}",
        mode=mode,
        http_reuse=mode == "http",
        balance=_BALANCE[algorithm],
        persistence=persistence,
        monitor=monitor,
        load_server_state=opts.load_server_state and monitor is not None,
        forwardfor=(mode == "http" and pool_http
                    and truthy_header(headers.get("X-Forwarded-For"))),
        set_headers=set_headers,
        fullconn=fullconn,
        timeout_connect=timeout(attr(listener, "timeout_member_connect"),
                                opts.timeout_member_connect,
                                f"listener {listener.id} timeout_member_connect"),
        timeout_server=timeout(attr(listener, "timeout_member_data"),
                               opts.timeout_member_data,
                               f"listener {listener.id} timeout_member_data"),
        servers=servers,
    )


def _persistence(pool: Any, mode: str, peers_section: str | None, stick_size: str
                 ) -> Persistence | None:
    sp = attr(pool, "session_persistence")
    if not sp:
        return None
    kind = sp.get("type") if isinstance(sp, dict) else getattr(sp, "type", None)
    if kind == c.SOURCE_IP:
        return Persistence(c.SOURCE_IP, None, stick_size, peers_section)
    if kind not in (c.HTTP_COOKIE, c.APP_COOKIE):
        raise RenderError(f"pool {pool.id}: unknown session persistence type {kind!r}")
    if mode != "http":
        # HAProxy ignores cookies outside HTTP mode (Octavia renders them and HAProxy
        # warns); the API accepts this, so render nothing rather than fail the LB.
        return None
    if kind == c.HTTP_COOKIE:
        return Persistence(c.HTTP_COOKIE, None, stick_size, None)
    name = sp.get("cookie_name") if isinstance(sp, dict) else getattr(
        sp, "cookie_name", None)
    if not name:
        raise RenderError(f"pool {pool.id}: APP_COOKIE persistence without cookie_name")
    return Persistence(c.APP_COOKIE, v.cookie_name(name), stick_size, peers_section)


def _monitor(hm: Any, what: str, base_path: str) -> Monitor:
    kind = hm.type
    timeout_s = v.integer(hm.timeout, f"{what} health monitor timeout", 1, 86400)
    if kind in (c.HM_HTTP, c.HM_HTTPS):
        version = v.http_version(getattr(hm, "http_version", None))
        domain = attr(hm, "domain_name")
        host = v.domain_name(domain) if domain and version == "1.1" else None
        return Monitor(
            timeout=timeout_s, kind="http",
            method=v.http_method(attr(hm, "http_method", "GET")),
            url_path=v.url_path(attr(hm, "url_path", "/")),
            version=version,
            host=host,
            expect_rstatus=v.expected_codes_regex(attr(hm, "expected_codes", "200")),
        )
    if kind in (c.HM_TCP, c.HM_TLS_HELLO):
        # TLS-HELLO: HAProxy's ssl-hello-chk sends an SSLv3 hello that current TLS
        # stacks reject, and Octavia's replacement (a plain connect) cannot tell a TLS
        # member from any listening socket. Here the check is a real TLS handshake
        # (`check-ssl verify none`, no layer-7 request, see _check_template): a member
        # that does not complete a TLS hello is down, as the monitor type promises.
        return Monitor(timeout=timeout_s, kind="tcp")
    if kind == c.HM_PING:
        # One ICMP echo per check by the agent's script; the member's address reaches it
        # from HAProxy (argument and environment), never through this file.
        return Monitor(timeout=timeout_s, kind="ping",
                       command=f"{base_path}/{PING_SCRIPT}")
    raise UnsupportedFeature(f"{what}: health monitor type {kind!r} is not supported "
                             f"for HAProxy pools")


def _check_template(hm: Any, pool: Any, what: str) -> Check:
    """The per-server check options shared by all members (addr/port filled later)."""
    tls_enabled = bool(attr(pool, "tls_enabled", False))
    alpn = attr(pool, "alpn_protocols")
    inter = v.integer(hm.delay, f"{what} health monitor delay", 1, 86400)
    return Check(
        inter=inter,
        fastinter_ms=min(inter * 1000, TRANSITION_CHECK_MS),
        fall=v.integer(attr(hm, "fall_threshold", 3),
                       f"{what} health monitor max_retries_down", 1, 10),
        rise=v.integer(hm.rise_threshold, f"{what} health monitor max_retries", 1, 10),
        ssl=hm.type in (c.HM_HTTPS, c.HM_TLS_HELLO),
        alpn=v.alpn_list(alpn, f"{what} alpn_protocols") if tls_enabled and alpn else None,
        addr=None,
        port=None,
    )


def _server(member: Any, check: Check | None, persistence: Persistence | None,
            send_proxy: str | None, server_tls: ServerTls | None, what: str) -> Server:
    member_id = v.uuid_id(member.id, f"{what} member id")
    mwhat = f"member {member_id}"
    if check is not None:
        monitor_address = attr(member, "monitor_address")
        monitor_port = attr(member, "monitor_port")
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
        weight=v.integer(attr(member, "weight", 1), f"{mwhat} weight", 0, 256),
        check=check,
        cookie=(member_id if persistence is not None
                and persistence.kind == c.HTTP_COOKIE else None),
        send_proxy=send_proxy,
        backup=bool(attr(member, "backup", False)),
        disabled=not enabled(member),
        tls=server_tls,
    )

"""Listener options and admin states through real HAProxy: connection_limit, the timeouts,
insert_headers, admin_state_up on LB/listener/pool; and hostile strings, which the API
refuses or which reach HAProxy inertly."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.dataplane import (
    BlackholeBackend,
    Cloud,
    HTTPBackend,
    TCPBackend,
    answers,
    connection_refused,
    http_client,
    read_line,
    tcp_exchange,
    wait_serving,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until


def one_http_member(cloud: Cloud, backends: list, name: str = "m", **stack_kw):
    member = HTTPBackend(name).start()
    backends.append(member)
    st = cloud.stack([member], **stack_kw)
    wait_serving(st.url)
    return st, member


# --- connection_limit ----------------------------------------------------------------------

def test_connection_limit_holds_back_connections_beyond_it(cloud: Cloud, backends):
    member = TCPBackend("m").start()
    backends.append(member)
    st = cloud.stack([member], protocol="TCP", listener_kw={"connection_limit": 2})
    wait_until(lambda: tcp_exchange(st.vip, 80) == "m", 20, what="TCP VIP serving")
    wait_until(lambda: member.open == 0, 10, what="no connection left open")
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection((st.vip, 80), timeout=10)
            held.append(s)
            s.sendall(b"hold\n")
            assert read_line(s) == "m"
        third = socket.create_connection((st.vip, 80), timeout=10)  # kernel backlog
        held.append(third)
        third.sendall(b"third\n")
        third.settimeout(1.5)
        with pytest.raises(TimeoutError):
            third.recv(100)  # HAProxy does not take a third connection ...
        assert member.open == 2
        held.pop(0).close()  # ... until one of the two ends
        third.settimeout(10)
        assert read_line(third) == "m"
    finally:
        for s in held:
            s.close()


def test_connection_limit_beyond_haproxys_reach_is_clamped_or_refused(cloud: Cloud,
                                                                      backends):
    """Octavia sets no maximum; HAProxy's global maxconn stops at one million (Octavia's
    sum rule) and its integers at 2**31 - 1: larger limits serve, absurd ones are a 400."""
    st, _ = one_http_member(cloud, backends, listener_kw={"connection_limit": 5_000_000})
    assert answers(st.url, 2) == ["m", "m"]
    for limit in (2**31, 10**30):
        r = cloud.put(f"listeners/{st.listener['id']}", "listener",
                      {"connection_limit": limit})
        assert r.status_code == 400, r.text
        assert "connection_limit" in r.json()["faultstring"]
    assert cloud.o.lb(st.lb["id"])["provisioning_status"] == "ACTIVE"


# --- timeouts ------------------------------------------------------------------------------

def test_timeout_member_data_answers_504_when_a_member_is_too_slow(cloud: Cloud, backends):
    st, member = one_http_member(cloud, backends,
                                 listener_kw={"timeout_member_data": 500})
    member.delay = 5
    with http_client(timeout=15) as client:
        assert client.get(st.url + "/slow").status_code == 504
        assert client.get(st.url + "/").status_code == 200


def test_timeout_member_connect_gives_up_on_a_member_that_does_not_accept(cloud: Cloud,
                                                                          backends):
    """Connects to the member hang (its accept queue is full). With 200 ms per attempt
    HAProxy gives up (503) after its 3 retries, long before the client's 15 s; the 5 s
    default would need 20 s."""
    hole = BlackholeBackend()
    backends.append(hole)
    with pytest.raises(TimeoutError):  # it neither accepts nor refuses
        socket.create_connection((hole.host, hole.port), timeout=1)
    st = cloud.stack([hole], listener_kw={"timeout_member_connect": 200})
    with http_client(timeout=15) as client:
        assert client.get(st.url).status_code == 503


def test_timeout_client_data_closes_an_idle_client(cloud: Cloud):
    """Two listeners, one with timeout_client_data 500 ms, one with the default (50 s):
    of two idle connections opened together, the first is closed by HAProxy while the
    other is still open."""
    lb = cloud.lb()
    cloud.listener(lb, "HTTP", 80, timeout_client_data=500)
    cloud.listener(lb, "HTTP", 81)
    vip = lb["vip_address"]
    wait_until(lambda: not connection_refused(vip, 81), 20, what="listeners up")
    short = socket.create_connection((vip, 80), timeout=15)
    long_ = socket.create_connection((vip, 81), timeout=15)
    try:
        data = b""
        while chunk := short.recv(4096):  # blocks until HAProxy closes (15 s at most)
            data += chunk
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        long_.setblocking(False)
        with pytest.raises(BlockingIOError):
            long_.recv(100)  # still open, nothing sent
    finally:
        short.close()
        long_.close()


def test_timeout_tcp_inspect_reaches_the_running_configuration(cloud: Cloud, backends):
    """timeout_tcp_inspect only delays `tcp-request content` rules, which Octavia (and
    octolb) render only for L7 rules: no client sees it yet. Proved as far as HAProxy."""
    member = TCPBackend("m").start()
    backends.append(member)
    st = cloud.stack([member], protocol="TCP", listener_kw={"timeout_tcp_inspect": 700})
    wait_until(lambda: tcp_exchange(st.vip, 80) == "m", 20, what="TCP VIP serving")
    assert "tcp-request inspect-delay 700" in cloud.rendered_configs()


# --- insert_headers ------------------------------------------------------------------------

def test_insert_headers_are_seen_by_the_member(cloud: Cloud, backends):
    st, member = one_http_member(cloud, backends, listener_kw={"insert_headers": {
        "X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true",
        "X-Real-IP": "true"}})
    # a second listener on the same LB without them
    plain = cloud.listener(st.lb, "HTTP", 81, insert_headers={"X-Forwarded-For": "false"})
    pool = cloud.pool(st.lb, plain)
    cloud.member(st.lb, pool, member)
    wait_serving(f"http://{st.vip}:81")

    source = "127.0.77.7"
    with http_client(source) as client:
        assert client.get(st.url + "/").status_code == 200
        seen = member.requests("/")[-1].headers
        assert seen["x-forwarded-for"] == source
        assert seen["x-forwarded-port"] == "80"
        assert seen["x-forwarded-proto"] == "http"
        assert seen["x-real-ip"] == source
        assert client.get(f"http://{st.vip}:81/").status_code == 200
        seen = member.requests("/")[-1].headers
        assert not {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto",
                    "x-real-ip"} & set(seen)


# --- admin_state_up ------------------------------------------------------------------------

def test_disabled_load_balancer_refuses_connections(cloud: Cloud, backends):
    st, _ = one_http_member(cloud, backends)
    lb = cloud.update(st.lb["id"], f"loadbalancers/{st.lb['id']}", "loadbalancer",
                      {"admin_state_up": False})
    assert lb["admin_state_up"] is False
    assert connection_refused(st.vip, 80)
    assert cloud.o.lb(st.lb["id"])["operating_status"] == "OFFLINE"
    cloud.update(st.lb["id"], f"loadbalancers/{st.lb['id']}", "loadbalancer",
                 {"admin_state_up": True})
    wait_serving(st.url, {"m"})


def test_disabled_listener_refuses_connections_while_its_siblings_serve(cloud: Cloud,
                                                                       backends):
    st, member = one_http_member(cloud, backends)
    other = cloud.listener(st.lb, "HTTP", 81, default_pool_id=st.pool["id"])
    wait_serving(f"http://{st.vip}:81")
    cloud.update(st.lb["id"], f"listeners/{other['id']}", "listener",
                 {"admin_state_up": False})
    assert connection_refused(st.vip, 81)
    assert answers(st.url, 2) == ["m", "m"]
    assert cloud.get(f"listeners/{other['id']}")["listener"]["operating_status"] == "OFFLINE"
    cloud.update(st.lb["id"], f"listeners/{other['id']}", "listener",
                 {"admin_state_up": True})
    wait_serving(f"http://{st.vip}:81", {"m"})


def test_disabled_pool_answers_503(cloud: Cloud, backends):
    st, member = one_http_member(cloud, backends)
    cloud.update(st.lb["id"], f"pools/{st.pool['id']}", "pool", {"admin_state_up": False})
    before = member.hits
    with http_client() as client:
        assert [client.get(st.url).status_code for _ in range(3)] == [503] * 3
    assert member.hits == before
    assert cloud.get(f"pools/{st.pool['id']}")["pool"]["operating_status"] == "OFFLINE"
    cloud.update(st.lb["id"], f"pools/{st.pool['id']}", "pool", {"admin_state_up": True})
    wait_serving(st.url, {"m"})


# --- hostile strings -----------------------------------------------------------------------

MARK = "EVIL"  # every hostile string carries it; no rendered file may
CONTROL = [f"x\n{MARK} frontend", f"x\r{MARK}", f"{MARK}\x00", f"{MARK}\x1b[0m", f"{MARK}\x7f",
           f"{MARK} spaced\u2028unicode line separator", f"{MARK}\x85next line",
           f"{MARK}\u200bzero width"]
# accepted where Octavia accepts them (names, descriptions: never rendered), and then never
# written to a file
INERT = [f"it's \"{MARK}\" # not a comment", f"%[src] ${{{MARK}}} \\ back",
         f"{MARK} ünïcödé ☃ text"]


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["faultstring"]


def test_hostile_strings_are_refused_or_rendered_inertly(cloud: Cloud, backends):
    check_path = "/it's$HOME%41(x);=@*+!~"  # HAProxy syntax, all of it legal in a URL path
    member = HTTPBackend("m").start()
    backends.append(member)
    lb = cloud.lb(name=INERT[0], description=INERT[1])
    lb_id = lb["id"]
    listener = cloud.listener(lb, name=INERT[1], description=INERT[2])
    pool = cloud.pool(lb, listener, name=INERT[2], description=INERT[0])
    m = cloud.member(lb, pool, member, name=INERT[0])
    hm = cloud.monitor(lb, pool, "HTTP", name=INERT[1], url_path=check_path)
    url = f"http://{lb['vip_address']}"
    wait_serving(url, {"m"})
    cloud.wait_member_status(pool, m, "ONLINE")
    # every character reached the member literally, in HAProxy's check request
    wait_until(lambda: member.requests(check_path), 10, what="a check on the odd path")

    paths = {"loadbalancers/" + lb_id: "loadbalancer", f"listeners/{listener['id']}":
             "listener", f"pools/{pool['id']}": "pool",
             f"pools/{pool['id']}/members/{m['id']}": "member",
             f"healthmonitors/{hm['id']}": "healthmonitor"}
    for path, key in paths.items():
        for text in CONTROL:
            _refused(cloud.put(path, key, {"name": text}))
            if key not in ("member", "healthmonitor"):
                _refused(cloud.put(path, key, {"description": text}))
    hm_path = f"healthmonitors/{hm['id']}"
    for url_path in [f"/{MARK} x", f"/{MARK}\nx", f"/{MARK}#x", f'/{MARK}"', f"/%[{MARK}]",
                     f"/${{{MARK}}}", f"{MARK}", f"/{MARK}\\"]:
        _refused(cloud.put(hm_path, "healthmonitor", {"url_path": url_path}))
    for domain in [f"{MARK} x", f"{MARK}\nx", f"{MARK}'x", f"%[{MARK}]", f"{MARK}#"]:
        _refused(cloud.put(hm_path, "healthmonitor",
                           {"http_version": 1.1, "domain_name": domain}))
    for codes in ["200\n", "200|500", f"{MARK}", "200 500", "999", "200,099", "204-200"]:
        _refused(cloud.put(hm_path, "healthmonitor", {"expected_codes": codes}))
    _refused(cloud.put(hm_path, "healthmonitor", {"http_method": f"GET /{MARK}"}))
    for headers in [{"X-Forwarded-For": f"true\n{MARK}"}, {"X-Forwarded-For": f"%[{MARK}]"},
                    {f"X-{MARK} x": "true"}, {"X-Forwarded-For": f"{MARK} true"}]:
        _refused(cloud.put(f"listeners/{listener['id']}", "listener",
                           {"insert_headers": headers}))
    for cookie in [f"{MARK} x", f"{MARK};x", f'{MARK}"x', f"{MARK}\nx", f"{MARK}=x",
                   f"{MARK},x", f"{MARK}\\x", f"{MARK}\tx"]:
        _refused(cloud.put(f"pools/{pool['id']}", "pool", {"session_persistence": {
            "type": "APP_COOKIE", "cookie_name": cookie}}))

    # nothing got stuck, the LB still serves, and no file holds any of it
    assert cloud.o.lb(lb_id)["provisioning_status"] == "ACTIVE"
    assert answers(url, 2) == ["m", "m"]
    configs = cloud.rendered_configs()
    assert MARK not in configs


# --- what this release does not deliver ------------------------------------------------------

def test_what_the_data_plane_does_not_deliver_yet_is_501(cloud: Cloud):
    """Accepted by the API's validation, refused by the provider (Octavia's 501 with
    `Provider 'amphora' does not support a requested option: ...`), and nothing changes."""
    lb = cloud.lb()
    listener = cloud.listener(lb)
    pool = cloud.pool(lb, listener)
    refused = [
        cloud.post("listeners", "listener", {"loadbalancer_id": lb["id"], "protocol": "UDP",
                                             "protocol_port": 53}),
    ]
    for r in refused:
        assert r.status_code == 501, r.text
        assert r.json()["faultstring"].startswith(
            "Provider 'amphora' does not support a requested option:"), r.text
    assert cloud.o.lb(lb["id"])["provisioning_status"] == "ACTIVE"
    assert [p["id"] for p in cloud.get(f"pools?loadbalancer_id={lb['id']}")["pools"]] == \
        [pool["id"]]
    assert len(cloud.get(f"listeners?loadbalancer_id={lb['id']}")["listeners"]) == 1

"""Balancing through real HAProxy: which member answers, per algorithm, weight, backup and
admin state. Each test builds its own load balancer on one shared `octolb up`."""

from __future__ import annotations

import socket
from collections import Counter

import httpx
import pytest

from tests.e2e.dataplane import (
    Cloud,
    HTTPBackend,
    TCPBackend,
    answers,
    http_client,
    http_get,
    read_line,
    tcp_exchange,
    wait_serving,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until


def start_http(backends: list, *names: str, **kw) -> list[HTTPBackend]:
    started = [HTTPBackend(n, **kw).start() for n in names]
    backends.extend(started)
    return started


def test_round_robin_spreads_requests_evenly(cloud: Cloud, backends):
    bs = start_http(backends, "a", "b", "c")
    st = cloud.stack(bs)
    wait_serving(st.url, {"a", "b", "c"})
    counts = Counter(answers(st.url, 30))
    assert set(counts) == {"a", "b", "c"}
    assert all(9 <= n <= 11 for n in counts.values()), counts


def test_member_weights_split_traffic_in_proportion(cloud: Cloud, backends):
    bs = start_http(backends, "heavy", "light")
    st = cloud.stack(bs, member_kw=[{"weight": 3}, {"weight": 1}])
    wait_serving(st.url, {"heavy", "light"})
    counts = Counter(answers(st.url, 40))
    assert 27 <= counts["heavy"] <= 33 and 7 <= counts["light"] <= 13, counts


def test_weight_zero_drains_new_clients_but_keeps_persistent_ones(cloud: Cloud, backends):
    """Weight 0 is Octavia's drain: no new client reaches the member, a client whose
    session is already pinned to it still does, and the member shows DRAINING."""
    a, b = start_http(backends, "a", "b")
    st = cloud.stack([a, b], pool_kw={"session_persistence": {"type": "HTTP_COOKIE"}})
    cloud.monitor(st.lb, st.pool, "HTTP")
    wait_serving(st.url, {"a", "b"})
    # a client pinned to b: it holds the persistence cookie a response from b set
    for _ in range(4):
        with http_client() as client:
            r = client.get(st.url)
            if r.text == "b":
                cookie = f"SRV={r.cookies['SRV']}"
                break
    else:
        pytest.fail("no new client reached member b")
    assert http_get(st.url, headers={"Cookie": cookie}) == (200, "b")

    cloud.update(st.lb["id"], f"pools/{st.pool['id']}/members/{st.members[1]['id']}",
                 "member", {"weight": 0})
    cloud.wait_member_status(st.pool, st.members[1], "DRAINING")
    assert set(answers(st.url, 10)) == {"a"}
    assert {http_get(st.url, headers={"Cookie": cookie})[1] for _ in range(4)} == {"b"}


def test_least_connections_sends_new_connections_to_the_idle_member(cloud: Cloud, backends):
    x, y = TCPBackend("x").start(), TCPBackend("y").start()
    backends.extend([x, y])
    st = cloud.stack([x, y], protocol="TCP", algorithm="LEAST_CONNECTIONS")
    wait_until(lambda: tcp_exchange(st.vip, 80) in ("x", "y"), 20, what="TCP VIP serving")
    wait_until(lambda: x.open == y.open == 0, 10, what="no connection left open")

    held = socket.create_connection((st.vip, 80), timeout=10)
    try:
        held.sendall(b"hold\n")
        busy = read_line(held)
        idle = {"x": y, "y": x}[busy]
        for _ in range(6):
            # one at a time, each one closed on both sides before the next (tcp_exchange),
            # so the held connection is the only difference leastconn can see
            assert tcp_exchange(st.vip, 80) == idle.name
    finally:
        held.close()


def test_round_robin_for_contrast_alternates_despite_a_held_connection(cloud: Cloud, backends):
    x, y = TCPBackend("x").start(), TCPBackend("y").start()
    backends.extend([x, y])
    st = cloud.stack([x, y], protocol="TCP", algorithm="ROUND_ROBIN")
    wait_until(lambda: tcp_exchange(st.vip, 80) in ("x", "y"), 20, what="TCP VIP serving")
    with socket.create_connection((st.vip, 80), timeout=10) as held:
        held.sendall(b"hold\n")
        read_line(held)
        assert set(tcp_exchange(st.vip, 80) for _ in range(6)) == {"x", "y"}


def test_source_ip_algorithm_pins_each_client_address_to_one_member(cloud: Cloud, backends):
    bs = start_http(backends, "a", "b")
    st = cloud.stack(bs, algorithm="SOURCE_IP")
    wait_serving(st.url)
    chosen = {}
    for i in range(8):
        source = f"127.0.{i * 37 % 250 + 3}.{i * 11 + 5}"
        seen = set(answers(st.url, 4, source=source))
        assert len(seen) == 1, (source, seen)
        chosen[source] = seen.pop()
    assert set(chosen.values()) == {"a", "b"}, chosen


def test_source_ip_port_algorithm_pins_each_connection_not_each_address(cloud: Cloud,
                                                                       backends):
    """SOURCE_IP_PORT hashes address:port: one client address on many connections reaches
    every member (SOURCE_IP would pin it to one), while every request of one keep-alive
    connection reaches the same member (round robin would alternate)."""
    bs = start_http(backends, "a", "b", "c")
    st = cloud.stack(bs, algorithm="SOURCE_IP_PORT")
    wait_serving(st.url)
    source = "127.0.0.77"
    assert set(answers(st.url, 30, source=source)) == {"a", "b", "c"}
    for _ in range(3):
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=10) as client:
            seen = {client.get(st.url).text for _ in range(8)}
        assert len(seen) == 1, seen


def test_backup_member_serves_only_while_every_primary_is_down(cloud: Cloud, backends):
    primary, backup = start_http(backends, "primary", "backup")
    st = cloud.stack([primary, backup], member_kw=[{}, {"backup": True}])
    cloud.monitor(st.lb, st.pool, "HTTP")
    wait_serving(st.url)
    cloud.wait_member_status(st.pool, st.members[0], "ONLINE")
    assert set(answers(st.url, 6)) == {"primary"}

    primary.stop()
    cloud.wait_member_status(st.pool, st.members[0], "ERROR")
    assert set(answers(st.url, 6)) == {"backup"}

    backends.append(HTTPBackend("primary", port=primary.port).start())
    cloud.wait_member_status(st.pool, st.members[0], "ONLINE")
    wait_until(lambda: answers(st.url, 1) == ["primary"], 10, what="primary back")
    assert set(answers(st.url, 6)) == {"primary"}


@pytest.mark.parametrize("protocol", ["HTTP", "TCP"])
def test_disabled_member_gets_no_traffic_and_shows_offline(cloud: Cloud, backends, protocol):
    if protocol == "HTTP":
        on, off = start_http(backends, "on", "off")
    else:
        on, off = TCPBackend("on").start(), TCPBackend("off").start()
        backends.extend([on, off])
    st = cloud.stack([on, off], protocol=protocol,
                     member_kw=[{}, {"admin_state_up": False}])
    cloud.wait_member_status(st.pool, st.members[1], "OFFLINE")
    if protocol == "HTTP":
        wait_serving(st.url)
        assert set(answers(st.url, 6)) == {"on"}
    else:
        wait_until(lambda: tcp_exchange(st.vip, 80) == "on", 20, what="TCP VIP serving")
        assert {tcp_exchange(st.vip, 80) for _ in range(6)} == {"on"}
    assert off.hits == 0

    cloud.update(st.lb["id"], f"pools/{st.pool['id']}/members/{st.members[1]['id']}",
                 "member", {"admin_state_up": True})
    if protocol == "HTTP":
        assert set(answers(st.url, 6)) == {"on", "off"}
    else:
        assert {tcp_exchange(st.vip, 80) for _ in range(6)} == {"on", "off"}

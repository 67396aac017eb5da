"""Listener and pool protocols through real HAProxy: HTTP, TCP, HTTPS passthrough, and the
PROXY protocol (v1 and v2) carrying the client's address to the member."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.dataplane import (
    Cloud,
    HTTPBackend,
    TCPBackend,
    read_line,
    tcp_exchange,
    tls_get,
    wait_serving,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until


def test_tcp_listener_relays_raw_bytes_to_tcp_members(cloud: Cloud, backends):
    x, y = TCPBackend("x").start(), TCPBackend("y").start()
    backends.extend([x, y])
    st = cloud.stack([x, y], protocol="TCP")
    wait_until(lambda: tcp_exchange(st.vip, 80) in ("x", "y"), 20, what="TCP VIP serving")
    with socket.create_connection((st.vip, 80), timeout=10) as s:
        # a non-HTTP conversation of several lines on one connection, one member
        replies = []
        for line in (b"one\n", b"two\n", b"three\n"):
            s.sendall(line)
            replies.append(read_line(s))
    assert len(set(replies)) == 1 and replies[0] in ("x", "y")
    assert {tcp_exchange(st.vip, 80) for _ in range(4)} == {"x", "y"}


def test_https_listener_passes_tls_through_to_the_members(cloud: Cloud, backends):
    """HAProxy holds no certificate: the TLS session the client sees is the member's."""
    a = HTTPBackend("tls-a", tls=True).start()
    b = HTTPBackend("tls-b", tls=True).start()
    backends.extend([a, b])
    st = cloud.stack([a, b], protocol="HTTPS")
    wait_until(lambda: tls_get(st.vip, 80)[0] in ("tls-a", "tls-b"), 20,
               what="HTTPS VIP serving")
    seen = [tls_get(st.vip, 80) for _ in range(4)]
    assert all(cn == body for cn, body in seen), seen
    assert {cn for cn, _ in seen} == {"tls-a", "tls-b"}


def test_https_listener_with_a_tcp_pool(cloud: Cloud, backends):
    a = HTTPBackend("tls-tcp", tls=True).start()
    backends.append(a)
    st = cloud.stack([a], protocol="HTTPS", pool_protocol="TCP")
    wait_until(lambda: tls_get(st.vip, 80) == ("tls-tcp", "tls-tcp"), 20,
               what="HTTPS VIP serving")


def test_tcp_listener_with_an_http_pool_speaks_http_to_members(cloud: Cloud, backends):
    a = HTTPBackend("web").start()
    backends.append(a)
    st = cloud.stack([a], protocol="TCP", pool_protocol="HTTP")
    wait_serving(st.url, {"web"})
    assert a.requests("/")[-1].method == "GET"


@pytest.mark.parametrize(("listener_protocol", "pool_protocol", "version"), [
    ("HTTP", "PROXY", "v1"),
    ("TCP", "PROXY", "v1"),
    ("HTTP", "PROXYV2", "v2"),
    ("TCP", "PROXYV2", "v2"),
])
def test_proxy_protocol_pools_tell_the_member_the_client_address(
        cloud: Cloud, backends, listener_protocol, pool_protocol, version):
    member = TCPBackend("pp", proxy=version).start()
    backends.append(member)
    st = cloud.stack([member], protocol=listener_protocol, pool_protocol=pool_protocol)
    source = "127.0.33.44"

    def ask():
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                          timeout=5) as client:
            return client.get(st.url, headers={"Connection": "close"})
    wait_until(lambda: ask().status_code == 200, 20, what="VIP serving")
    with socket.create_connection((st.vip, 80), timeout=10,
                                  source_address=(source, 0)) as s:
        port = s.getsockname()[1]
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    body = data.split(b"\r\n\r\n", 1)[1].decode()
    assert body == f"pp {version} {source}:{port}"

"""PING health monitors and listener allowed_cidrs through real HAProxy.

PING: every 127/8 address answers a ping, so the member whose reachability changes lives
in a network namespace this module creates (a veth pair on a random /30 of 198.18.0.0/15,
the benchmarking range; the route to it is the veth, so nothing leaves the machine). Inside,
`icmp_echo_ignore_all` makes the member stop answering pings while its HTTP port keeps
answering: what takes it out of rotation is the ping, not a connection check.

allowed_cidrs: clients bind their source to chosen 127/8 addresses, inside and outside the
listener's CIDRs; a refused one is cut off before a byte reaches a member.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.dataplane import (
    Cloud,
    HTTPBackend,
    TCPBackend,
    answers,
    http_get,
    tcp_exchange,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until

CLONE_NEWNET = 0x40000000


def wait_statuses(cloud: Cloud, pool: dict, members: list[dict], expected: list[str]) -> None:
    def now():
        return [cloud.member_status(pool, m) for m in members]
    wait_until(lambda: now() == expected, 30, interval=0.1, what=f"member statuses {expected}")


# --- a member in its own network namespace ---------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Namespace:
    """A network namespace joined to this one by a veth pair: `host_ip` here, `ip` there."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000:04d}{random.randrange(16**4):04x}"
        self.name = f"octolb-test-{tag}"
        self.veth = f"oc{tag}"  # interface names have at most 15 characters
        block = (198 << 24) + (18 << 16) + 4 * random.randrange(1, 2**17 // 4 - 1)
        self.host_ip = socket.inet_ntoa((block + 1).to_bytes(4, "big"))
        self.ip = socket.inet_ntoa((block + 2).to_bytes(4, "big"))
        self._libc = ctypes.CDLL(None, use_errno=True)

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns",
            self.name)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        self.run("ip", "addr", "add", f"{self.ip}/30", "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("ip", "link", "set", "lo", "up")

    def destroy(self) -> None:
        for args in (["link", "del", self.veth], ["netns", "del", self.name]):
            subprocess.run(["ip", *args], capture_output=True, timeout=10, check=False)

    def run(self, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, *args], check=True,
                       capture_output=True, timeout=10)

    def answer_pings(self, answer: bool) -> None:
        self.run("sysctl", "-q", "-w", f"net.ipv4.icmp_echo_ignore_all={0 if answer else 1}")

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """This thread inside the namespace: sockets created meanwhile belong to it."""
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{self.name}") as ns:
            self._setns(ns.fileno())
            try:
                yield
            finally:
                self._setns(home.fileno())

    def _setns(self, fd: int) -> None:
        if self._libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns: {os.strerror(errno)}")

    def http_backend(self, name: str) -> HTTPBackend:
        with self.entered():
            return HTTPBackend(name, host=self.ip).start()


@pytest.fixture
def netns(backends) -> Iterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("!!! not root: cannot create a network namespace, the PING monitor was "
                    "NOT tested against an unreachable member !!!")
    assert shutil.which("ip"), "iproute2 is missing (make system-deps installs it)"
    ns = Namespace()
    try:
        ns.create()
        yield ns
    finally:
        for b in backends:  # the namespace's backends stop before it goes
            b.stop()
        ns.destroy()


# --- PING ----------------------------------------------------------------------------------

def test_ping_monitor_takes_a_member_that_stops_answering_pings_out(cloud: Cloud, backends,
                                                                    netns: Namespace):
    near = HTTPBackend("near").start()  # 127.0.0.1: always answers pings
    far = netns.http_backend("far")
    backends.extend([near, far])
    st = cloud.stack([near, far])
    cloud.monitor(st.lb, st.pool, "PING")
    assert "ping-wrapper.sh" in cloud.rendered_configs()
    wait_statuses(cloud, st.pool, st.members, ["ONLINE", "ONLINE"])
    assert set(answers(st.url, 6)) == {"near", "far"}

    netns.answer_pings(False)  # its HTTP port still answers
    wait_statuses(cloud, st.pool, st.members, ["ONLINE", "ERROR"])
    before = far.hits
    assert set(answers(st.url, 6)) == {"near"}
    assert far.hits == before

    netns.answer_pings(True)
    wait_statuses(cloud, st.pool, st.members, ["ONLINE", "ONLINE"])
    assert set(answers(st.url, 6)) == {"near", "far"}


# --- allowed_cidrs -------------------------------------------------------------------------

SUBNET = random.randrange(256)
INSIDE = f"127.13.{SUBNET}.10"   # a client source in CIDR_A
OUTSIDE = f"127.14.{SUBNET}.10"  # a client source in CIDR_B
CIDR_A = f"127.13.{SUBNET}.0/24"
CIDR_B = f"127.14.{SUBNET}.0/24"


def http_status(url: str, source: str) -> int | None:
    """The status of a GET from `source`, or None when the connection is cut off without
    an answer (closed or reset)."""
    try:
        return http_get(url, source, timeout=5)[0]
    except (ConnectionResetError, BrokenPipeError, IndexError):
        return None  # IndexError: no status line at all


def served(url: str, source: str) -> bool:
    return http_status(url, source) == 200


def refused(url: str, source: str) -> bool:
    return http_status(url, source) is None


def test_allowed_cidrs_admit_only_clients_inside_and_follow_updates(cloud: Cloud, backends):
    member = HTTPBackend("m").start()
    backends.append(member)
    st = cloud.stack([member], listener_kw={"allowed_cidrs": [CIDR_A]})
    assert st.listener["allowed_cidrs"] == [CIDR_A]
    wait_until(lambda: served(st.url, INSIDE), 20, what="inside client served")
    hits = member.hits
    assert refused(st.url, OUTSIDE)
    assert member.hits == hits  # the refused request reached no member

    cloud.update(st.lb["id"], f"listeners/{st.listener['id']}", "listener",
                 {"allowed_cidrs": [CIDR_B]})
    wait_until(lambda: served(st.url, OUTSIDE) and refused(st.url, INSIDE), 20,
               what="only the outside client served")

    cloud.update(st.lb["id"], f"listeners/{st.listener['id']}", "listener",
                 {"allowed_cidrs": None})
    wait_until(lambda: served(st.url, INSIDE) and served(st.url, OUTSIDE), 20,
               what="every client served again")


def test_allowed_cidrs_on_a_tcp_listener_cut_refused_clients_off(cloud: Cloud, backends):
    member = TCPBackend("t").start()
    backends.append(member)
    st = cloud.stack([member], protocol="TCP",
                     listener_kw={"allowed_cidrs": [CIDR_A, "10.0.0.0/8"]})
    wait_until(lambda: tcp_exchange(st.vip, 80, source=INSIDE, timeout=5) == "t", 20,
               what="inside client served")
    hits = member.hits
    with socket.create_connection((st.vip, 80), timeout=5,
                                  source_address=(OUTSIDE, 0)) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(b"hello\n")
        try:
            assert s.recv(4096) == b""  # closed with no answer
        except ConnectionResetError:
            pass
    assert member.hits == hits

"""The Octavia quick-start, as written, with the stock `openstack` CLI against `octolb up` and
real HAProxy: create, listener, pool, health monitor, two real members, traffic alternates, a
dead member leaves rotation and shows ERROR/DEGRADED, comes back, stats count, cascade delete
removes everything including the amphora's processes."""

from __future__ import annotations

import ipaddress
import time

import httpx
import pytest

from tests.harness import Backend, Octolb, alive, pids_of_amphora, wait_until

HEARTBEAT = 1  # seconds between heartbeats of the amphorae in this test
DELAY, MAX_RETRIES = 2, 2  # the quick-start's health monitor
SLACK = 1.0  # API polling and heartbeat processing


@pytest.fixture
def octolb(tmp_path):
    o = Octolb(tmp_path / "state", heartbeat_interval=HEARTBEAT).start()
    yield o
    o.close()


@pytest.fixture
def backends():
    bs = [Backend("member-a").start(), Backend("member-b").start()]
    yield bs
    for b in bs:
        b.stop()


def api_member_status(octolb: Octolb, pool: str, member: str) -> str:
    return octolb.api("GET", f"/v2/lbaas/pools/{pool}/members/{member}").json()[
        "member"]["operating_status"]


def member_status(octolb: Octolb, pool: str, member: str) -> str:
    return octolb.openstack("loadbalancer", "member", "show", pool, member)["operating_status"]


def test_octavia_quickstart_end_to_end(octolb, backends):
    os_ = octolb.openstack
    lb = os_("loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", "private-subnet",
             "--wait")
    lb = os_("loadbalancer", "show", "lb1")
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["operating_status"] == "ONLINE"
    vip = lb["vip_address"]

    os_("loadbalancer", "listener", "create", "--name", "listener1", "--protocol", "HTTP",
        "--protocol-port", "80", "--wait", "lb1")
    pool = os_("loadbalancer", "pool", "create", "--name", "pool1", "--lb-algorithm",
               "ROUND_ROBIN", "--listener", "listener1", "--protocol", "HTTP", "--wait")["id"]
    os_("loadbalancer", "healthmonitor", "create", "--delay", str(DELAY), "--max-retries",
        str(MAX_RETRIES), "--timeout", "1", "--type", "HTTP", "--url-path", "/healthcheck",
        "--wait", "pool1")
    members = []
    for b in backends:
        m = os_("loadbalancer", "member", "create", "--subnet-id", "private-subnet",
                "--address", b.host, "--protocol-port", str(b.port), "--wait", "pool1")
        members.append(m["id"])

    # traffic alternates between the two real members
    with httpx.Client(timeout=5) as client:
        answers = [client.get(f"http://{vip}/").text for _ in range(6)]
    assert set(answers) == {"member-a", "member-b"}
    assert all(answers[i] != answers[i + 1] for i in range(5)), answers

    wait_until(lambda: all(member_status(octolb, "pool1", m) == "ONLINE" for m in members),
               20, what="members ONLINE")

    # kill one member: it leaves rotation, shows ERROR, the pool DEGRADED, within
    # delay x retries + one heartbeat interval (polled through the API: the CLI's own
    # start-up time is not the service's)
    bound = DELAY * MAX_RETRIES + HEARTBEAT
    start = time.monotonic()
    backends[0].stop()
    wait_until(lambda: api_member_status(octolb, pool, members[0]) == "ERROR",
               bound + SLACK, interval=0.1, what="dead member ERROR")
    assert time.monotonic() - start <= bound + SLACK
    assert os_("loadbalancer", "pool", "show", "pool1")["operating_status"] == "DEGRADED"
    assert os_("loadbalancer", "show", "lb1")["operating_status"] == "DEGRADED"
    assert member_status(octolb, "pool1", members[0]) == "ERROR"
    with httpx.Client(timeout=5) as client:
        assert {client.get(f"http://{vip}/").text for _ in range(6)} == {"member-b"}

    # bring it back: ONLINE again, back in rotation
    backends[0] = Backend("member-a", port=backends[0].port).start()
    wait_until(lambda: api_member_status(octolb, pool, members[0]) == "ONLINE",
               bound + SLACK, interval=0.1, what="member back ONLINE")
    wait_until(lambda: os_("loadbalancer", "pool", "show", "pool1")["operating_status"]
               == "ONLINE", 10, what="pool ONLINE")
    with httpx.Client(timeout=5) as client:
        assert {client.get(f"http://{vip}/").text for _ in range(6)} == {"member-a", "member-b"}

    # statistics count the connections (heartbeats carry deltas)
    for _ in range(10):
        assert httpx.get(f"http://{vip}/", timeout=5).status_code == 200

    def counted():
        stats = os_("loadbalancer", "stats", "show", "lb1")
        return stats["total_connections"] >= 10 + 3 and stats["bytes_out"] > 0
    wait_until(counted, 15, what="stats to count the requests")

    # the amphora's own counters, one row per listener
    amp_id = octolb.amphorae(lb["id"])[0]["id"]
    amp_stats = os_("loadbalancer", "amphora", "stats", "show", amp_id)
    assert amp_stats["total_connections"] >= 13

    status = os_("loadbalancer", "status", "show", "lb1", parse=False).stdout
    assert members[0] in status and "health_monitor" in status

    # cascade delete removes everything, the amphora's processes included
    amps = octolb.amphorae(lb["id"])
    assert len(amps) == 1
    pids = pids_of_amphora(octolb.state_dir, amps[0]["id"])
    assert pids and all(alive(p) for p in pids)
    os_("loadbalancer", "delete", "--cascade", "--wait", "lb1", parse=False)
    assert octolb.api("GET", f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404
    assert octolb.api("GET", "/v2/lbaas/listeners").json()["listeners"] == []
    assert octolb.api("GET", "/v2/lbaas/pools").json()["pools"] == []
    wait_until(lambda: not any(alive(p) for p in pids), 15, what="amphora processes gone")
    assert not (octolb.state_dir / "amphorae" / amps[0]["id"]).exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{vip}/", timeout=2)
    ports = octolb.api("GET", "/network/v2.0/ports").json()["ports"]
    assert [p for p in ports if p["id"] == lb["vip_port_id"]] == []


def test_cli_resolves_vip_network_port_and_fixed_address(octolb):
    """The CLI looks names up in the network API before it calls the load-balancer API."""
    os_ = octolb.openstack
    net = os_("loadbalancer", "create", "--name", "by-net", "--vip-network-id", "private",
              "--wait")
    subnet = os_("subnet", "show", "private-subnet")
    assert net["vip_subnet_id"] == subnet["id"]

    port = os_("port", "create", "--network", "private", "my-vip")
    by_port = os_("loadbalancer", "create", "--name", "by-port", "--vip-port-id", "my-vip",
                  "--wait")
    assert by_port["vip_port_id"] == port["id"]
    assert by_port["vip_address"] == port["fixed_ips"][0]["ip_address"]

    fixed = str(ipaddress.ip_network(octolb.vip_cidr)[242])
    by_addr = os_("loadbalancer", "create", "--name", "by-addr", "--vip-subnet-id",
                  "private-subnet", "--vip-address", fixed, "--wait")
    assert by_addr["vip_address"] == fixed
    taken = os_("loadbalancer", "create", "--name", "again", "--vip-subnet-id",
                "private-subnet", "--vip-address", fixed, check=False, parse=False)
    assert taken.returncode != 0 and "The VIP IP address is already in use" in taken.stderr

    # each VIP answers on its own amphora
    for lb in (net, by_port, by_addr):
        assert os_("loadbalancer", "show", lb["id"])["provisioning_status"] == "ACTIVE"
    # a tenant's own port survives the deletion of its load balancer; octolb's own do not
    for name in ("by-net", "by-port", "by-addr"):
        os_("loadbalancer", "delete", "--wait", name, parse=False)
    ports = {p["Name"] for p in os_("port", "list")}
    assert ports == {"my-vip"}

"""The no-op drivers (`[controller_worker] compute_driver / amphora_driver / network_driver =
noop`): a real `octolb up` takes a whole graph on made-up network ids to ACTIVE without
starting an amphora, never fails those amphorae over, and deletes them."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from tests.harness import Octolb, wait_until

NOOP = ("[controller_worker]\ncompute_driver = noop\namphora_driver = noop\n"
        "network_driver = noop\n")


@pytest.fixture(scope="module")
def octolb(tmp_path_factory):
    o = Octolb(tmp_path_factory.mktemp("noop") / "state", extra_conf=NOOP)
    # heartbeat_timeout short: a failover, if one were coming, would come quickly
    o.conf.write_text(o.conf.read_text().replace(
        "[health_manager]\n", "[health_manager]\nheartbeat_timeout = 2\n"))
    o.start()
    yield o
    o.close()


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _create(o: Octolb, path: str, key: str, body: dict, lb_id: str) -> dict:
    r = o.api("POST", path, json={key: body})
    assert r.status_code == 201, r.text
    o.wait_active(lb_id, timeout=30)
    return r.json()[key]


def test_a_graph_on_unknown_network_ids_goes_active_without_amphora_processes(octolb):
    o = octolb
    subnet = str(uuid.uuid4())
    r = o.api("POST", "/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "name": "noop", "vip_subnet_id": subnet}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["vip_subnet_id"] == subnet
    assert lb["vip_address"].startswith("198.51.100.")  # made up, as Octavia's no-op does
    assert lb["vip_network_id"] and lb["vip_port_id"]
    o.wait_active(lb["id"], timeout=30)

    lis = _create(o, "/v2/lbaas/listeners", "listener", {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}, lb["id"])
    pool = _create(o, "/v2/lbaas/pools", "pool", {
        "listener_id": lis["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}, lb["id"])
    member = _create(o, f"/v2/lbaas/pools/{pool['id']}/members", "member", {
        "address": "192.0.2.10", "protocol_port": 8080, "subnet_id": str(uuid.uuid4())},
        lb["id"])
    hm = _create(o, "/v2/lbaas/healthmonitors", "healthmonitor", {
        "pool_id": pool["id"], "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1},
        lb["id"])
    tree = o.api("GET", f"/v2/lbaas/loadbalancers/{lb['id']}/status").json()["statuses"]
    lis_s = tree["loadbalancer"]["listeners"][0]
    assert tree["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert lis_s["provisioning_status"] == "ACTIVE"
    pool_s = lis_s["pools"][0]
    assert pool_s["provisioning_status"] == "ACTIVE"
    assert pool_s["members"][0]["id"] == member["id"]
    assert pool_s["members"][0]["provisioning_status"] == "ACTIVE"
    assert pool_s["health_monitor"]["id"] == hm["id"]
    assert pool_s["health_monitor"]["provisioning_status"] == "ACTIVE"

    # an amphora record exists, but nothing was started for it
    amps = o.amphorae(lb["id"])
    assert len(amps) == 1 and amps[0]["status"] == "ALLOCATED"
    assert _children(o.proc.pid) == []
    assert not (o.state_dir / "amphorae" / amps[0]["id"]).exists()

    # no heartbeat will ever come: no health row, so no failover (timeout is 2 s)
    db = sqlite3.connect(o.state_dir / "octolb.db")
    assert db.execute("select count(*) from amphora_health").fetchone()[0] == 0
    db.close()
    time.sleep(5)
    assert o.lb(lb["id"])["provisioning_status"] == "ACTIVE"
    assert [a["id"] for a in o.amphorae(lb["id"])] == [amps[0]["id"]]

    r = o.api("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    assert r.status_code == 204, r.text
    wait_until(lambda: o.api("GET", f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404,
               30, what="the load balancer gone")
    assert o.api("GET", f"/v2/lbaas/listeners/{lis['id']}").status_code == 404


def test_a_requested_vip_address_is_used_as_given(octolb):
    o = octolb
    r = o.api("POST", "/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_network_id": str(uuid.uuid4()), "vip_address": "203.0.113.7"}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["vip_address"] == "203.0.113.7"
    assert o.wait_active(lb["id"], timeout=30)["vip_address"] == "203.0.113.7"

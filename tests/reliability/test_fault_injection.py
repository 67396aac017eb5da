"""SIGKILL of the whole controller at random points of a random (seeded, repeatable)
sequence of creates, updates and deletes: after each restart the work goes on, and at the end
every object is ACTIVE or gone as requested, with no orphan amphora process and no orphan
VIP address."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.harness import Backend, Octolb, wait_until

SEED = int(os.environ.get("OCTOLB_FAULT_SEED", "20261121"))
OPERATIONS = 30


@pytest.fixture
def backend():
    b = Backend("member").start()
    yield b
    b.stop()


@pytest.fixture
def octolb(tmp_path):
    o = Octolb(tmp_path / "state").start()
    yield o
    o.close()


class Model:
    """What the client asked for: LB id → {listener id → port}, and which LBs are gone."""

    def __init__(self):
        self.lbs: dict[str, dict[str, int]] = {}
        self.pools: dict[str, list[str]] = {}  # listener id → pool ids
        self.members: dict[str, int] = {}  # pool id → member count
        self.deleted: set[str] = set()


def settle(o: Octolb, lb_id: str) -> None:
    """Wait until the LB takes changes again (ACTIVE) or is gone."""
    def done():
        r = o.api("GET", f"/v2/lbaas/loadbalancers/{lb_id}")
        if r.status_code == 404:
            return True
        status = r.json()["loadbalancer"]["provisioning_status"]
        assert status != "ERROR", r.json()
        return status == "ACTIVE"
    wait_until(done, 60, what=f"load balancer {lb_id} settled")


def test_random_operations_survive_random_sigkills(octolb, backend):
    rng = random.Random(SEED)
    model = Model()
    kills = 0
    for step in range(OPERATIONS):
        live = [lb for lb in model.lbs if lb not in model.deleted]
        choice = rng.choice(["create_lb"] * (3 if len(live) < 3 else 1) +
                            ["listener", "pool", "member", "update", "delete_listener"] * 2 +
                            ["delete_lb"] if live else ["create_lb"])
        lb_id = rng.choice(live) if live else None
        if lb_id:
            settle(octolb, lb_id)
        r = None
        if choice == "create_lb":
            r = octolb.api("POST", "/v2/lbaas/loadbalancers", json={"loadbalancer": {
                "name": f"lb{step}", "vip_subnet_id": octolb.subnet_id()}})
            lb_id = r.json()["loadbalancer"]["id"]
            model.lbs[lb_id] = {}
        elif choice == "listener":
            port = rng.choice([p for p in range(8000, 8010)
                               if p not in model.lbs[lb_id].values()])
            r = octolb.api("POST", "/v2/lbaas/listeners", json={"listener": {
                "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": port}})
            model.lbs[lb_id][r.json()["listener"]["id"]] = port
        elif choice == "pool":
            free = [lis for lis in model.lbs[lb_id] if not model.pools.get(lis)]
            if free:
                r = octolb.api("POST", "/v2/lbaas/pools", json={"pool": {
                    "listener_id": free[0], "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN"}})
                model.pools[free[0]] = [r.json()["pool"]["id"]]
        elif choice == "member":
            pools = [p for lis in model.lbs[lb_id] for p in model.pools.get(lis, [])]
            if pools:
                pool = rng.choice(pools)
                n = model.members.get(pool, 0)
                r = octolb.api("POST", f"/v2/lbaas/pools/{pool}/members", json={"member": {
                    "address": backend.host,
                    "protocol_port": backend.port if n == 0 else 20000 + n}})
                model.members[pool] = n + 1
        elif choice == "delete_listener" and model.lbs[lb_id]:
            lis = rng.choice(list(model.lbs[lb_id]))
            r = octolb.api("DELETE", f"/v2/lbaas/listeners/{lis}")
            del model.lbs[lb_id][lis]
            model.pools.pop(lis, None)
        elif choice == "delete_lb":
            r = octolb.api("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
            model.deleted.add(lb_id)
            for lis in model.lbs[lb_id]:
                model.pools.pop(lis, None)
        if r is None:  # an update, or nothing of the chosen kind to act on yet: rename
            r = octolb.api("PUT", f"/v2/lbaas/loadbalancers/{lb_id}",
                           json={"loadbalancer": {"name": f"renamed{step}"}})
        assert r is not None and r.status_code < 300, (choice, r.status_code, r.text)

        if step % 3 == 2:  # every third operation: kill at a random point of its work
            time.sleep(rng.uniform(0, 0.4))
            octolb.kill(signal.SIGKILL)
            kills += 1
            octolb.start()

    assert kills == OPERATIONS // 3
    for lb_id in model.lbs:
        settle(octolb, lb_id)

    # every object as requested
    for lb_id, listeners in model.lbs.items():
        r = octolb.api("GET", f"/v2/lbaas/loadbalancers/{lb_id}")
        if lb_id in model.deleted:
            assert r.status_code == 404
            continue
        lb = r.json()["loadbalancer"]
        assert lb["provisioning_status"] == "ACTIVE"
        assert {x["id"] for x in lb["listeners"]} == set(listeners)
        for lis_id in listeners:
            lis = octolb.api("GET", f"/v2/lbaas/listeners/{lis_id}").json()["listener"]
            assert lis["provisioning_status"] == "ACTIVE"
    for pools in model.pools.values():
        for pool in pools:
            doc = octolb.api("GET", f"/v2/lbaas/pools/{pool}").json()["pool"]
            assert doc["provisioning_status"] == "ACTIVE"
            assert len(doc["members"]) == model.members.get(pool, 0)

    # no orphans: one amphora directory (and agent) per live LB, one VIP port per live LB
    live = [lb for lb in model.lbs if lb not in model.deleted]
    amps = octolb.api("GET", "/v2/octavia/amphorae").json()["amphorae"]
    assert sorted(a["loadbalancer_id"] for a in amps) == sorted(live)
    assert sorted(os.listdir(octolb.state_dir / "amphorae")) == sorted(a["id"] for a in amps)
    vip_ports = {octolb.lb(lb)["vip_port_id"] for lb in live}
    ports = octolb.api("GET", "/network/v2.0/ports").json()["ports"]
    assert {p["id"] for p in ports} == vip_ports

"""`kill -9` of `octolb up`: nothing pending is lost, nothing serving is interrupted."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time

import httpx
import pytest

from tests.harness import Backend, Octolb, wait_until


@pytest.fixture
def octolb(tmp_path):
    o = Octolb(tmp_path / "state").start()
    yield o
    o.close()


@pytest.fixture
def backend():
    b = Backend("member").start()
    yield b
    b.stop()


def status_in_db(o: Octolb, lb_id: str) -> str:
    with sqlite3.connect(o.state_dir / "octolb.db") as db:
        return db.execute("select provisioning_status from load_balancer where id = ?",
                          (lb_id,)).fetchone()[0]


def test_sigkill_during_pending_create_ends_active_after_restart(octolb, backend):
    r = octolb.api("POST", "/v2/lbaas/loadbalancers",
                   json={"loadbalancer": {"name": "lb", "vip_subnet_id": octolb.subnet_id()}})
    assert r.status_code == 201
    lb_id = r.json()["loadbalancer"]["id"]
    octolb.kill(signal.SIGKILL)
    assert status_in_db(octolb, lb_id) == "PENDING_CREATE"  # killed in the middle

    octolb.start()
    lb = octolb.wait_active(lb_id)
    assert lb["operating_status"] == "ONLINE"
    assert len(octolb.amphorae(lb_id)) == 1
    octolb.http_lb(backend, lb_id=lb_id)
    assert httpx.get(f"http://{lb['vip_address']}/", timeout=5).text == "member"


def test_sigkill_of_controller_does_not_interrupt_traffic_and_amphora_is_adopted(
        octolb, backend):
    lb_id, vip = octolb.http_lb(backend)
    before = octolb.amphorae(lb_id)
    assert len(before) == 1

    results = {"ok": 0, "failed": []}
    stop = threading.Event()

    def client_loop():
        deadline = time.monotonic() + 90  # bounded in time and count
        with httpx.Client(timeout=5) as c:
            while not stop.is_set() and time.monotonic() < deadline and results["ok"] < 20000:
                try:
                    resp = c.get(f"http://{vip}/")
                    if resp.status_code == 200 and resp.text == "member":
                        results["ok"] += 1
                    else:
                        results["failed"].append(resp.status_code)
                except httpx.HTTPError as exc:
                    results["failed"].append(repr(exc))
                time.sleep(0.005)

    t = threading.Thread(target=client_loop)
    t.start()
    try:
        wait_until(lambda: results["ok"] > 20, 10, what="traffic before the kill")
        octolb.kill(signal.SIGKILL)
        served_while_down = results["ok"]
        time.sleep(2)
        assert results["ok"] > served_while_down, "traffic stopped while the controller was down"
        octolb.start()
        after_restart = results["ok"]
        wait_until(lambda: results["ok"] > after_restart + 20, 10, what="traffic after restart")
        # several heartbeats after the restart: the amphora is adopted, not rebuilt
        time.sleep(3)
    finally:
        stop.set()
        t.join()
    assert results["failed"] == []
    after = octolb.amphorae(lb_id)
    assert [a["id"] for a in after] == [a["id"] for a in before]
    assert after[0]["status"] == "ALLOCATED"
    assert after[0]["compute_id"] == before[0]["compute_id"]  # same agent process
    assert octolb.lb(lb_id)["provisioning_status"] == "ACTIVE"


def test_octolb_down_stops_amphorae_and_up_starts_them_again(octolb, backend):
    from tests.harness import alive, pids_of_amphora

    lb_id, vip = octolb.http_lb(backend)
    amp = octolb.amphorae(lb_id)[0]
    pids = pids_of_amphora(octolb.state_dir, amp["id"])
    assert pids and all(alive(p) for p in pids)

    octolb.kill(signal.SIGTERM)  # a clean stop leaves the amphorae serving ...
    assert httpx.get(f"http://{vip}/", timeout=5).text == "member"
    octolb.down()  # ... `octolb down` stops them
    wait_until(lambda: not any(alive(p) for p in pids), 15, what="amphora processes gone")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{vip}/", timeout=2)

    octolb.start()  # the same amphora (same id and address) is started again
    wait_until(lambda: httpx.get(f"http://{vip}/", timeout=2).text == "member", 30,
               what="traffic after up")
    after = octolb.amphorae(lb_id)
    assert [(a["id"], a["lb_network_ip"]) for a in after] == [(amp["id"], amp["lb_network_ip"])]
    assert octolb.lb(lb_id)["provisioning_status"] == "ACTIVE"

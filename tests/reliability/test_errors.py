"""A failed change leaves a readable reason and is repaired by a plain update."""

from __future__ import annotations

import os
import socket
import time

import httpx
import pytest

from tests.harness import Backend, Octolb, wait_until


@pytest.fixture
def octolb(tmp_path):
    o = Octolb(tmp_path / "state").start()
    yield o
    o.close()


def test_failed_listener_shows_why_and_a_plain_update_repairs_it(octolb):
    r = octolb.api("POST", "/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": octolb.subnet_id()}})
    lb_id = r.json()["loadbalancer"]["id"]
    vip = octolb.wait_active(lb_id)["vip_address"]

    squatter = socket.socket()  # someone else holds VIP:80, so HAProxy cannot bind it
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((vip, 80))
    squatter.listen()
    try:
        r = octolb.api("POST", "/v2/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}})
        listener = r.json()["listener"]["id"]

        def failed():
            lis = octolb.api("GET", f"/v2/lbaas/listeners/{listener}").json()["listener"]
            return lis["provisioning_status"] == "ERROR"
        wait_until(failed, 60, what="listener ERROR")
        lb = octolb.lb(lb_id)
        assert lb["provisioning_status"] == "ACTIVE"  # Octavia's revert: parent back
        assert "Address already in use" in lb["status_reason"] or \
            "cannot bind" in lb["status_reason"].lower(), lb["status_reason"]
        assert lb["status_reason"] in octolb.log.read_text()
    finally:
        squatter.close()

    # the tenant fixes nothing but retries with a plain update: the listener is served
    r = octolb.api("PUT", f"/v2/lbaas/listeners/{listener}",
                   json={"listener": {"name": "retry"}})
    assert r.status_code == 200
    lb = octolb.wait_active(lb_id)
    lis = octolb.api("GET", f"/v2/lbaas/listeners/{listener}").json()["listener"]
    assert lis["provisioning_status"] == "ACTIVE"
    assert "status_reason" not in lb
    # HAProxy now answers on VIP:80 (no pool yet: 503 from HAProxy itself)
    assert httpx.get(f"http://{vip}/", timeout=5).status_code == 503


def test_a_failed_update_of_a_served_listener_fails_nothing_over(octolb):
    """HAProxy cannot load the new configuration (a listener created next to it cannot
    bind), so the update of a served listener fails: the listener is ERROR, the amphora keeps
    the configuration it had (listener included), its heartbeats still match, and nothing is
    failed over; traffic keeps flowing."""
    backend = Backend("member").start()
    try:
        lb_id, vip = octolb.http_lb(backend)
        served = octolb.api("GET", f"/v2/lbaas/listeners?loadbalancer_id={lb_id}").json()[
            "listeners"][0]["id"]
        amps = octolb.amphorae(lb_id)
        assert len(amps) == 1

        squatter = socket.socket()  # someone else holds VIP:81
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((vip, 81))
        squatter.listen()
        try:
            r = octolb.api("POST", "/v2/lbaas/listeners", json={"listener": {
                "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 81}})
            assert r.status_code == 201, r.text
            wait_until(lambda: listener(octolb, r.json()["listener"]["id"])[
                "provisioning_status"] == "ERROR", 60, what="new listener ERROR")
            octolb.wait_active(lb_id)
            # any update now renders the unbindable listener too: HAProxy refuses it
            r = octolb.api("PUT", f"/v2/lbaas/listeners/{served}",
                           json={"listener": {"name": "renamed"}})
            assert r.status_code == 200, r.text
            wait_until(lambda: listener(octolb, served)["provisioning_status"] == "ERROR",
                       60, what="served listener ERROR")
            octolb.wait_active(lb_id)

            # (HAProxy's failed reload pauses and resumes the running listeners while its
            # new process retries binding, for a while after the agent gave up on it:
            # connections may be refused meanwhile; not this test's business.)
            deadline = time.monotonic() + 4 * 3 + 2  # 4 heartbeat timeouts (3 s) and more
            while time.monotonic() < deadline:
                assert octolb.lb(lb_id)["provisioning_status"] == "ACTIVE"
                assert [a["id"] for a in octolb.amphorae(lb_id)] == [amps[0]["id"]]
                time.sleep(0.5)
            assert "failing over" not in octolb.log.read_text()
            wait_until(lambda: serves(vip), 30, what="traffic on the VIP")
            for _ in range(10):  # steadily
                assert serves(vip)
                time.sleep(0.3)
            # still served: the heartbeats' operating status, Octavia's provisioning ERROR
            lis = listener(octolb, served)
            assert (lis["provisioning_status"], lis["operating_status"]) == ("ERROR", "ONLINE")
            assert sorted(os.listdir(octolb.state_dir / "amphorae")) == [amps[0]["id"]]
        finally:
            squatter.close()
    finally:
        backend.stop()


def serves(vip: str) -> bool:
    try:
        return httpx.get(f"http://{vip}/", timeout=2).text == "member"
    except httpx.HTTPError:
        return False


def listener(octolb: Octolb, listener_id: str) -> dict:
    return octolb.api("GET", f"/v2/lbaas/listeners/{listener_id}").json()["listener"]

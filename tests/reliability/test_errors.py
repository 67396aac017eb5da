"""A failed change leaves a readable reason and is repaired by a plain update."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.harness import Octolb, wait_until


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

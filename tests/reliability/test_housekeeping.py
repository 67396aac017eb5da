"""Housekeeping with real amphorae: the spare pool, and certificate rotation without a
restart of the agent."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import time

import httpx
import pytest
from cryptography import x509

from tests.harness import Backend, Octolb, wait_until


@pytest.fixture
def backend():
    b = Backend("member").start()
    yield b
    b.stop()


def spares(o: Octolb) -> list[dict]:
    return [a for a in o.api("GET", "/v2/octavia/amphorae").json()["amphorae"]
            if a["loadbalancer_id"] is None and a["status"] == "READY"]


def test_spare_pool_serves_creates_and_failovers(tmp_path, backend):
    o = Octolb(tmp_path / "state",
               extra_conf="[house_keeping]\nspare_amphora_pool_size = 1\n"
                          "spare_check_interval = 0.5\n").start()
    try:
        first = wait_until(lambda: spares(o), 30, what="a READY spare")[0]
        lb_id, vip = o.http_lb(backend)
        assert [a["id"] for a in o.amphorae(lb_id)] == [first["id"]]  # the spare was taken
        second = wait_until(lambda: spares(o), 30, what="the pool refilled")[0]
        assert second["id"] != first["id"]

        agent = int((o.state_dir / "amphorae" / first["id"] / "agent.pid").read_text())
        os.kill(agent, signal.SIGKILL)

        def failed_over_to_spare():
            amps = o.amphorae(lb_id)
            return [a["id"] for a in amps] == [second["id"]] and \
                amps[0]["status"] == "ALLOCATED" and \
                o.lb(lb_id)["provisioning_status"] == "ACTIVE"
        wait_until(failed_over_to_spare, 30, what="failover onto the spare")
        wait_until(lambda: httpx.get(f"http://{vip}/", timeout=1).text == "member", 30,
                   what="traffic back")
    finally:
        o.close()


def served_certificate(o: Octolb, mgmt_ip: str) -> x509.Certificate:
    """The agent's certificate as a new mTLS connection sees it (controller's identity)."""
    ctx = ssl.create_default_context(cafile=str(o.state_dir / "ca" / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(o.state_dir / "ca" / "client.pem"))
    with socket.create_connection((mgmt_ip, 9443), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_certificates_are_rotated_before_they_expire(tmp_path, backend):
    o = Octolb(tmp_path / "state",
               extra_conf="[certificates]\ncert_validity_time = 40\n"
                          "[house_keeping]\ncert_interval = 1\ncert_expiry_buffer = 35\n").start()
    try:
        lb_id, vip = o.http_lb(backend)
        amp = o.amphorae(lb_id)[0]
        before = served_certificate(o, amp["lb_network_ip"])

        def rotated():
            now = o.amphorae(lb_id)[0]
            return now if now["cert_expiration"] != amp["cert_expiration"] else None
        after_doc = wait_until(rotated, 30, what="a new certificate")
        after = served_certificate(o, amp["lb_network_ip"])
        assert after.serial_number != before.serial_number
        assert after.not_valid_after_utc > before.not_valid_after_utc
        # the API shows the expiry of the certificate served (or of an even newer one)
        assert after.not_valid_after_utc.replace(tzinfo=None) >= \
            dt.datetime.fromisoformat(after_doc["cert_expiration"])
        # same agent process, and the controller still drives it
        assert after_doc["compute_id"] == amp["compute_id"]
        r = o.api("PUT", f"/v2/lbaas/loadbalancers/{lb_id}",
                  json={"loadbalancer": {"name": "after-rotation"}})
        assert r.status_code == 200
        assert o.wait_active(lb_id)["name"] == "after-rotation"
    finally:
        o.close()


def test_amphora_configure_pushes_the_controllers_current_agent_settings(tmp_path, backend):
    o = Octolb(tmp_path / "state").start()
    try:
        lb_id, vip = o.http_lb(backend)
        amp = o.amphorae(lb_id)[0]
        ini = o.state_dir / "amphorae" / amp["id"] / "agent.ini"
        assert "heartbeat_interval = 1" in ini.read_text()

        o.kill(signal.SIGTERM)  # the operator changes a setting and restarts
        o.conf.write_text(o.conf.read_text().replace("heartbeat_interval = 1",
                                                     "heartbeat_interval = 2"))
        o.start()
        o.openstack("loadbalancer", "amphora", "configure", amp["id"], parse=False)
        wait_until(lambda: "heartbeat_interval = 2" in ini.read_text(), 15,
                   what="the new agent configuration on the amphora")
        assert "configuration updated" in (ini.parent / "agent.log").read_text()
        # several heartbeats later: same amphora (no failover), still serving
        time.sleep(5)
        assert [a["id"] for a in o.amphorae(lb_id)] == [amp["id"]]
        assert o.lb(lb_id)["provisioning_status"] == "ACTIVE"
        assert httpx.get(f"http://{vip}/", timeout=5).text == "member"
    finally:
        o.close()

"""PING health monitors and listener allowed_cidrs at the API, as Octavia validates them:
what is accepted and shown, and the 400s (which create or change nothing)."""

from __future__ import annotations

import pytest

from octolb import config
from tests.api.conftest import settle
from tests.api.test_bad_input import count, fault

HMS = "/v2/lbaas/healthmonitors"
LISTENERS = "/v2/lbaas/listeners"


def new_pool(api, lb: str, protocol: str) -> str:
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["pool"]["id"]


def ping(pool: str, **fields) -> dict:
    return {"healthmonitor": {"pool_id": pool, "type": "PING", "delay": 2, "timeout": 1,
                              "max_retries": 2, **fields}}


# --- PING health monitors ---

@pytest.mark.parametrize("protocol", ["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2"])
def test_ping_monitor_is_created_on_every_haproxy_pool_protocol(api, lb, protocol):
    pool = new_pool(api, lb, protocol)
    r = api.post(HMS, json=ping(pool))
    assert r.status_code == 201, r.text
    hm = r.json()["healthmonitor"]
    assert hm["type"] == "PING" and hm["pools"] == [{"id": pool}]
    assert (hm["delay"], hm["timeout"], hm["max_retries"], hm["max_retries_down"]) == (
        2, 1, 2, 3)
    # the HTTP-only fields are not defaulted for a PING monitor
    assert hm["http_method"] is None and hm["url_path"] is None
    assert hm["expected_codes"] is None
    assert hm["provisioning_status"] == "PENDING_CREATE"


@pytest.mark.parametrize(("field", "value"), [
    ("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")])
def test_ping_monitor_refuses_http_fields(api, pool, field, value):
    assert fault(api.post(HMS, json=ping(pool, **{field: value}))) == (
        f"{field} is not a valid option for health monitors of type PING")
    assert count(api, HMS, "healthmonitors") == 0


def test_ping_monitor_refuses_http_fields_on_update(api, lb, pool):
    hm = api.post(HMS, json=ping(pool)).json()["healthmonitor"]
    settle(lb)
    assert fault(api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"url_path": "/x"}})) == (
        "url_path is not a valid option for health monitors of type PING")
    r = api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"delay": 5, "max_retries": 4}})
    assert r.status_code == 200, r.text
    assert (r.json()["healthmonitor"]["delay"], r.json()["healthmonitor"]["max_retries"]) == (
        5, 4)


def test_ping_monitor_can_be_disabled_by_the_operator(api, pool):
    config.CONF.set_override("allow_ping_health_monitors", False, "api_settings")
    try:
        assert fault(api.post(HMS, json=ping(pool))) == (
            "The selected type is not allowed in this deployment: PING")
    finally:
        config.CONF.clear_override("allow_ping_health_monitors", "api_settings")
    assert count(api, HMS, "healthmonitors") == 0


def test_ping_monitor_keeps_octavias_delay_bounds(api, pool):
    assert "Value should be greater or equal to 1" in fault(api.post(HMS, json=ping(
        pool, delay=0)))


# --- allowed_cidrs ---

def vip_of(api, lb: str) -> str:
    return api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]["vip_address"]


def create_listener(api, lb: str, port: int = 8080, **fields):
    return api.post(LISTENERS, json={"listener": {
        "loadbalancer_id": lb, "protocol": "TCP", "protocol_port": port, **fields}})


def show(api, listener: str) -> dict:
    return api.get(f"{LISTENERS}/{listener}").json()["listener"]


def test_allowed_cidrs_are_stored_normalised_and_deduplicated(api, lb):
    r = create_listener(api, lb, allowed_cidrs=[
        "127.5.0.7/16", "127.5.0.0/16", "10.0.0.1", "192.0.2.0/24"])
    assert r.status_code == 201, r.text
    expected = ["127.5.0.0/16", "10.0.0.1/32", "192.0.2.0/24"]
    assert r.json()["listener"]["allowed_cidrs"] == expected
    assert show(api, r.json()["listener"]["id"])["allowed_cidrs"] == expected


@pytest.mark.parametrize("cidrs", [None, []])
def test_no_allowed_cidrs_is_null(api, lb, cidrs):
    r = create_listener(api, lb, allowed_cidrs=cidrs)
    assert r.status_code == 201, r.text
    assert r.json()["listener"]["allowed_cidrs"] is None


@pytest.mark.parametrize("bad", [
    "10.0.0.0/33", "300.0.0.0/8", "not-a-cidr", "", "10.0.0.0/8 0.0.0.0/0",
    "10.0.0.0/8\n    bind 0.0.0.0:1", "fe80::/64%eth0", "10.0.0.0/8#x"])
def test_bad_cidr_is_400_and_creates_nothing(api, lb, bad):
    assert fault(create_listener(api, lb, allowed_cidrs=["10.0.0.0/8", bad])) == (
        f"Invalid input for field/attribute allowed_cidrs. Value: '{bad}'. "
        "Value should be IPv4 or IPv6 CIDR format")
    assert count(api, LISTENERS, "listeners") == 0


@pytest.mark.parametrize("bad", [7, {"cidr": "10.0.0.0/8"}, None])
def test_non_string_cidr_is_400(api, lb, bad):
    assert "Value should be IPv4 or IPv6 CIDR format" in fault(
        create_listener(api, lb, allowed_cidrs=[bad]))
    assert count(api, LISTENERS, "listeners") == 0


def test_allowed_cidrs_must_be_a_list(api, lb):
    assert "Value not a valid list: 10.0.0.0/8" in fault(
        create_listener(api, lb, allowed_cidrs="10.0.0.0/8"))
    assert count(api, LISTENERS, "listeners") == 0


def test_cidr_of_another_ip_version_than_the_vip_is_400(api, lb):
    vip = vip_of(api, lb)
    assert fault(create_listener(api, lb, allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])) == (
        f"Validation failure: CIDR 2001:db8::/32 IP version incompatible with all VIPs "
        f"['{vip}'] IP version.")
    assert count(api, LISTENERS, "listeners") == 0
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"


def test_update_replaces_keeps_and_resets_allowed_cidrs(api, lb):
    listener = create_listener(api, lb, allowed_cidrs=["10.0.0.0/8"]).json()["listener"]["id"]
    settle(lb)
    url = f"{LISTENERS}/{listener}"

    r = api.put(url, json={"listener": {"allowed_cidrs": ["192.0.2.9/24", "192.0.2.0/24"]}})
    assert r.status_code == 200, r.text
    assert r.json()["listener"]["allowed_cidrs"] == ["192.0.2.0/24"]
    assert r.json()["listener"]["provisioning_status"] == "PENDING_UPDATE"
    settle(lb)

    r = api.put(url, json={"listener": {"name": "renamed"}})
    assert r.json()["listener"]["allowed_cidrs"] == ["192.0.2.0/24"]
    settle(lb)

    for reset in (None, []):
        api.put(url, json={"listener": {"allowed_cidrs": ["10.0.0.0/8"]}})
        settle(lb)
        r = api.put(url, json={"listener": {"allowed_cidrs": reset}})
        assert r.status_code == 200, r.text
        assert r.json()["listener"]["allowed_cidrs"] is None
        assert show(api, listener)["allowed_cidrs"] is None
        settle(lb)


@pytest.mark.parametrize(("cidrs", "message"), [
    (["10.0.0.0/33"], "Value should be IPv4 or IPv6 CIDR format"),
    (["::/0"], "IP version incompatible with all VIPs"),
])
def test_bad_update_is_400_and_changes_nothing(api, lb, cidrs, message):
    listener = create_listener(api, lb, allowed_cidrs=["10.0.0.0/8"]).json()["listener"]["id"]
    settle(lb)
    assert message in fault(api.put(f"{LISTENERS}/{listener}",
                                    json={"listener": {"allowed_cidrs": cidrs}}))
    after = show(api, listener)
    assert after["allowed_cidrs"] == ["10.0.0.0/8"]
    assert after["provisioning_status"] == "ACTIVE"
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"

"""Every response object has exactly Octavia's keys: a missing key breaks a client that reads
it, an extra one breaks strict schema checks (gophercloud tests, schemathesis). The key sets
are those of Octavia's v2 types (the reference's appendix A), written out here."""

from __future__ import annotations

import pytest

from tests.api.conftest import settle

OWNED = {"id", "project_id", "tenant_id", "provisioning_status", "operating_status",
         "admin_state_up", "created_at", "updated_at", "tags"}

KEYS = {
    "loadbalancer": OWNED | {
        "name", "description", "vip_address", "vip_port_id", "vip_subnet_id",
        "vip_network_id", "vip_qos_policy_id", "vip_sg_ids", "vip_vnic_type",
        "additional_vips", "listeners", "pools", "provider", "flavor_id",
        "availability_zone"},
    "listener": OWNED | {
        "name", "description", "protocol", "protocol_port", "connection_limit",
        "default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
        "client_authentication", "client_crl_container_ref", "default_pool_id",
        "l7policies", "loadbalancers", "insert_headers", "timeout_client_data",
        "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect",
        "allowed_cidrs", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
        "hsts_include_subdomains", "hsts_preload"},
    "pool": OWNED | {
        "name", "description", "protocol", "lb_algorithm", "session_persistence",
        "loadbalancers", "listeners", "members", "healthmonitor_id", "tls_enabled",
        "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers",
        "tls_versions", "alpn_protocols"},
    "member": OWNED | {
        "name", "address", "protocol_port", "weight", "backup", "subnet_id",
        "monitor_address", "monitor_port", "vnic_type"},
    "healthmonitor": OWNED | {
        "name", "type", "delay", "timeout", "max_retries", "max_retries_down", "http_method",
        "url_path", "expected_codes", "http_version", "domain_name", "pools"},
    "amphora": {
        "id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
        "vrrp_port_id", "ha_port_id", "cert_expiration", "cert_busy", "role", "status",
        "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone", "image_id",
        "compute_flavor", "created_at", "updated_at"},
}
SESSION_PERSISTENCE = {"type", "cookie_name", "persistence_timeout", "persistence_granularity"}


def check(obj: dict, kind: str, without: set[str] = frozenset()) -> None:
    expected = KEYS[kind] - without
    assert set(obj) == expected, (f"{kind}: missing {sorted(expected - set(obj))}, "
                                  f"extra {sorted(set(obj) - expected)}")


@pytest.fixture
def graph(api, lb, listener, pool):
    r = api.post(f"/v2/lbaas/pools/{pool}/members", json={"member": {
        "address": "127.0.0.1", "protocol_port": 8080}})
    assert r.status_code == 201, r.text
    settle(lb)
    member = r.json()["member"]["id"]
    return {"lb": lb, "listener": listener, "pool": pool, "member": member}


def test_every_resource_has_exactly_octavias_keys(api, graph):
    pool_path = f"/v2/lbaas/pools/{graph['pool']}"
    # a pool without a monitor has no healthmonitor_id key at all (Octavia's quirk)
    check(api.get(pool_path).json()["pool"], "pool", without={"healthmonitor_id"})
    r = api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": graph["pool"], "type": "TCP", "delay": 5, "timeout": 3,
        "max_retries": 3}})
    assert r.status_code == 201, r.text
    check(r.json()["healthmonitor"], "healthmonitor")
    settle(graph["lb"])
    hm = r.json()["healthmonitor"]["id"]
    for path, kind in ((f"/v2/lbaas/loadbalancers/{graph['lb']}", "loadbalancer"),
                       (f"/v2/lbaas/listeners/{graph['listener']}", "listener"),
                       (pool_path, "pool"),
                       (f"{pool_path}/members/{graph['member']}", "member"),
                       (f"/v2/lbaas/healthmonitors/{hm}", "healthmonitor")):
        check(api.get(path).json()[kind], kind)
    # the same objects in lists and in update answers
    for path, kind, coll in (("/v2/lbaas/loadbalancers", "loadbalancer", "loadbalancers"),
                             ("/v2/lbaas/listeners", "listener", "listeners"),
                             ("/v2/lbaas/pools", "pool", "pools"),
                             (f"{pool_path}/members", "member", "members"),
                             ("/v2/lbaas/healthmonitors", "healthmonitor", "healthmonitors")):
        items = api.get(path).json()[coll]
        assert items
        for item in items:
            check(item, kind)
    r = api.put(f"/v2/lbaas/loadbalancers/{graph['lb']}",
                json={"loadbalancer": {"description": "x"}})
    check(r.json()["loadbalancer"], "loadbalancer")


def test_session_persistence_object_keys(api, lb, listener):
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "session_persistence": {"type": "APP_COOKIE", "cookie_name": "sess"}}})
    assert r.status_code == 201, r.text
    assert set(r.json()["pool"]["session_persistence"]) == SESSION_PERSISTENCE


def test_amphora_keys(api, lb):
    from octolb.db import session as dbs
    from octolb.db.models import Amphora

    with dbs.transaction() as s:
        s.add(Amphora(load_balancer_id=lb, status="ALLOCATED", role="STANDALONE",
                      lb_network_ip="127.2.0.9", compute_id="123"))
    amps = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb}").json()["amphorae"]
    assert len(amps) == 1
    check(amps[0], "amphora")
    check(api.get(f"/v2/octavia/amphorae/{amps[0]['id']}").json()["amphora"], "amphora")


KEYS.update({
    "l7policy": OWNED | {
        "name", "description", "listener_id", "action", "position", "redirect_url",
        "redirect_prefix", "redirect_pool_id", "redirect_http_code", "rules"},
    "rule": OWNED | {"type", "compare_type", "key", "value", "invert"},
    "quota": {"project_id", "tenant_id", "loadbalancer", "load_balancer", "listener", "pool",
              "healthmonitor", "health_monitor", "member", "l7policy", "l7rule"},
    "flavor": {"id", "name", "description", "enabled", "flavor_profile_id"},
    "flavorprofile": {"id", "name", "provider_name", "flavor_data"},
    "availability_zone": {"name", "description", "enabled", "availability_zone_profile_id"},
    "availability_zone_profile": {"id", "name", "provider_name", "availability_zone_data"},
})


def test_l7_quota_flavor_and_zone_keys(api, lb, listener):
    r = api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": listener, "action": "REJECT"}})
    assert r.status_code == 201, r.text
    check(r.json()["l7policy"], "l7policy")
    settle(lb)
    pol = r.json()["l7policy"]["id"]
    r = api.post(f"/v2/lbaas/l7policies/{pol}/rules", json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}})
    assert r.status_code == 201, r.text
    check(r.json()["rule"], "rule")
    settle(lb)
    check(api.get(f"/v2/lbaas/l7policies/{pol}").json()["l7policy"], "l7policy")
    for item in api.get(f"/v2/lbaas/l7policies/{pol}/rules").json()["rules"]:
        check(item, "rule")

    check(api.get("/v2/lbaas/quotas/p1").json()["quota"], "quota")
    check(api.get("/v2/lbaas/quotas/defaults").json()["quota"], "quota")

    r = api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": "fp", "provider_name": "amphora", "flavor_data": "{}"}})
    assert r.status_code == 201, r.text
    check(r.json()["flavorprofile"], "flavorprofile")
    r = api.post("/v2/lbaas/flavors", json={"flavor": {
        "name": "f", "flavor_profile_id": r.json()["flavorprofile"]["id"]}})
    assert r.status_code == 201, r.text
    check(r.json()["flavor"], "flavor")
    r = api.post("/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora", "availability_zone_data": "{}"}})
    assert r.status_code == 201, r.text
    check(r.json()["availability_zone_profile"], "availability_zone_profile")
    r = api.post("/v2/lbaas/availabilityzones", json={"availability_zone": {
        "name": "az", "availability_zone_profile_id":
            r.json()["availability_zone_profile"]["id"]}})
    assert r.status_code == 201, r.text
    check(r.json()["availability_zone"], "availability_zone")

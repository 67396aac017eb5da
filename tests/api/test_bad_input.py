"""Bad input gets a 400 with an Octavia-style faultstring and creates nothing."""

from __future__ import annotations

import pytest

LB_WRONG = [
    ({"vip_subnet_id": "not-a-uuid"}, "Value should be UUID format"),
    ({"admin_state_up": "maybe"}, "Value not an unambiguous boolean: maybe"),
    ({"admin_state_up": "True"}, "Value not an unambiguous boolean: True"),
    ({"name": "lb\nx"}, "control characters"),
    ({"name": 7}, "Value should be string"),
    ({"name": "x" * 256}, "maximum character requirement of 255"),
    ({"vip_address": "300.1.1.1"}, "Value should be IPv4 or IPv6 format"),
    ({"flavour": "typo"}, "Unknown attribute for argument load_balancer.loadbalancer: flavour"),
]


def fault(r, status=400):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    assert body["debuginfo"] is None
    return body["faultstring"]


def count(api, path, key):
    return len(api.get(path).json()[key])


@pytest.mark.parametrize(("extra", "message"), LB_WRONG)
def test_load_balancer_bad_field_is_400_and_creates_nothing(api, subnet_id, extra, message):
    body = {"vip_subnet_id": subnet_id, **extra}
    assert message in fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}))
    assert count(api, "/v2/lbaas/loadbalancers", "loadbalancers") == 0
    # the VIP address was not taken either
    assert count(api, "/network/v2.0/ports", "ports") == 0


def test_wrong_envelope_and_missing_vip(api, subnet_id):
    assert "Unknown attribute for argument load_balancer: lb" in fault(
        api.post("/v2/lbaas/loadbalancers", json={"lb": {"vip_subnet_id": subnet_id}}))
    assert fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {}})) == (
        "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, "
        "vip_subnet_id.")
    assert "not valid JSON" in fault(api.post(
        "/v2/lbaas/loadbalancers", content=b"{nope", headers={"Content-Type": "application/json"}))
    assert fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": "8b5a9e7e-0000-4000-8000-000000000000"}})) == (
        "Subnet 8b5a9e7e-0000-4000-8000-000000000000 not found.")


@pytest.mark.parametrize(("fields", "message"), [
    ({"protocol_port": 0}, "Value: '0'. Value should be greater or equal to 1"),
    ({"protocol_port": 65536}, "Value should be lower or equal to 65535"),
    ({"protocol_port": "eighty"}, "Invalid input for field/attribute protocol_port"),
    ({"protocol": "FTP"}, "Value should be one of: HTTP, HTTPS, TCP"),
    ({"protocol_port": None}, "protocol_port. Value: 'None'. Mandatory field missing."),
    ({"connection_limit": -2}, "Value should be greater or equal to -1"),
    ({"timeout_client_data": 86400001}, "Value should be lower or equal to 86400000"),
    ({"name": "web\r\nfrontend evil"}, "control characters"),
    ({"insert_headers": {"X-Evil": "true"}}, "is not a valid option for insert_headers"),
    ({"default_tls_container_ref": "x"}, "Certificate container references are not allowed"),
    ({"bogus": 1}, "Unknown attribute for argument listener_.listener: bogus"),
])
def test_listener_bad_input(api, lb, fields, message):
    body = {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80, **fields}
    if fields.get("protocol_port", 0) is None:
        del body["protocol_port"]
    assert message in fault(api.post("/v2/lbaas/listeners", json={"listener": body}))
    assert count(api, "/v2/lbaas/listeners", "listeners") == 0
    lb_doc = api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert lb_doc["provisioning_status"] == "ACTIVE"  # the lock was not left taken


def test_pool_protocol_mismatch(api, lb, listener):
    msg = fault(api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": listener, "protocol": "HTTPS", "lb_algorithm": "ROUND_ROBIN"}}))
    assert msg == ("Validation failure: The pool protocol 'HTTPS' is invalid while the "
                   "listener protocol is 'HTTP'.")
    assert count(api, "/v2/lbaas/pools", "pools") == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"lb_algorithm": "RANDOM"}, "Value should be one of: ROUND_ROBIN"),
    ({"session_persistence": {"type": "APP_COOKIE"}}, 'must be specified when using the'),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a\nb"}},
     "control characters"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a;b"}},
     'Supplied "cookie_name" is invalid.'),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 5}},
     "only for UDP and SCTP protocol pools"),
    ({}, "Must provide at least one of: loadbalancer_id, listener_id"),
])
def test_pool_bad_input(api, lb, fields, message):
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
    if fields:
        body["loadbalancer_id"] = lb
    assert message in fault(api.post("/v2/lbaas/pools", json={"pool": body}))
    assert count(api, "/v2/lbaas/pools", "pools") == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"address": "10.0.0.300"}, "Value should be IPv4 or IPv6 format"),
    ({"address": "fe80::1%lo"}, "Value should be IPv4 or IPv6 format"),
    ({"monitor_address": "fe80::1%eth0"}, "Value should be IPv4 or IPv6 format"),
    ({"protocol_port": 0}, "Value should be greater or equal to 1"),
    ({"weight": 257}, "Value should be lower or equal to 256"),
    ({"weight": "heavy"}, "Invalid input for field/attribute weight"),
    ({"address": "169.254.169.254"}, "169.254.169.254 is not a valid option for member address"),
    ({"subnet_id": "8b5a9e7e-0000-4000-8000-000000000000"}, "Subnet 8b5a9e7e"),
    ({"name": "m\n"}, "control characters"),
    ({"pool_id": "x"}, "Unknown attribute for argument member_.member: pool_id"),
])
def test_member_bad_input(api, pool, fields, message):
    body = {"address": "127.0.0.1", "protocol_port": 8080, **fields}
    path = f"/v2/lbaas/pools/{pool}/members"
    assert message in fault(api.post(path, json={"member": body}))
    assert count(api, path, "members") == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"delay": -1}, "Value should be greater or equal to 1"),
    ({"timeout": 0}, "Value should be greater or equal to 1"),
    ({"max_retries": 11}, "Value should be lower or equal to 10"),
    ({"type": "ICMP"}, "Value should be one of"),
    ({"url_path": "/health\nhttp-request deny"}, "control characters"),
    ({"url_path": "no-slash"}, "Value must be a valid URL Path string"),
    ({"url_path": "/a b"}, "Value must be a valid URL Path string"),
    ({"expected_codes": "2xx"}, "Value should match the pattern"),
    ({"http_method": "FETCH"}, "Value should be one of: GET"),
    ({"type": "TCP", "url_path": "/"}, "url_path is not a valid option for health monitors of "
                                       "type TCP"),
    ({"type": "UDP-CONNECT"}, "The UDP-CONNECT type is only supported for pools of type"),
    ({"domain_name": "example.com"}, "'http_version' must be specified"),
    # the renderer allows one trailing dot (the root), not two
    ({"http_version": 1.1, "domain_name": "example.com.."}, "should match the pattern of a host"),
])
def test_health_monitor_bad_input(api, pool, fields, message):
    body = {"pool_id": pool, "type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2,
            **fields}
    assert message in fault(api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": body}))
    assert count(api, "/v2/lbaas/healthmonitors", "healthmonitors") == 0


def test_immutable_fields_are_unknown_attributes_on_put(api, lb, listener):
    assert "Unknown attribute for argument listener_.listener: protocol" in fault(
        api.put(f"/v2/lbaas/listeners/{listener}", json={"listener": {"protocol": "TCP"}}))
    assert "Unknown attribute for argument load_balancer.loadbalancer: vip_address" in fault(
        api.put(f"/v2/lbaas/loadbalancers/{lb}", json={"loadbalancer": {"vip_address": "1.2.3.4"}}))


def test_unsupported_protocol_is_501_not_500(api, lb):
    msg = fault(api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "UDP", "protocol_port": 53}}), 501)
    assert msg.startswith("Provider 'amphora' does not support a requested option:")
    assert count(api, "/v2/lbaas/listeners", "listeners") == 0

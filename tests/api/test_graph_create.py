"""Fully populated ("graph") load balancer create (octavia-v2-api §9.1.3): one POST makes the
LB with its listeners, pools, members, monitors, L7 policies and rules, every object checked
as its own create checks it; any error answers a 4xx and leaves nothing behind (no row, no
VIP port)."""

from __future__ import annotations

import copy

import pytest

from tests.api.conftest import settle
from tests.api.test_response_keys import KEYS

LB = "/v2/lbaas/loadbalancers"
HM = {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2, "url_path": "/health"}
MEMBERS = [{"address": "10.0.0.11", "protocol_port": 8080},
           {"address": "10.0.0.12", "protocol_port": 8080, "weight": 3}]
LISTENER_NESTED_ABSENT = {"loadbalancers"}
POOL_NESTED_ABSENT = {"loadbalancers", "healthmonitor_id"}


def example(subnet_id: str) -> dict:
    """The reference's walkthrough variant (§15): listener `http` → pool `web` by name."""
    return {"loadbalancer": {
        "name": "lb1", "vip_subnet_id": subnet_id,
        "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": dict(HM), "members": copy.deepcopy(MEMBERS)}]}}


def _ports(api) -> list:
    return api.get("/network/v2.0/ports").json()["ports"]


def _nothing_created(api, ports_before: list) -> None:
    for plural in ("loadbalancers", "listeners", "pools", "healthmonitors", "l7policies"):
        r = api.get(f"/v2/lbaas/{plural}")
        assert r.status_code == 200
        assert r.json()[plural] == [], plural
    assert _ports(api) == ports_before  # the VIP port was released with the rest


def _fault(r, status: int, faultstring: str) -> None:
    assert r.status_code == status, r.text
    assert r.json() == {"faultcode": "Client", "faultstring": faultstring, "debuginfo": None}


def _by_name(objs: list) -> dict:
    return {o["name"]: o for o in objs}


# --- success ----------------------------------------------------------------------------

def test_example_body_creates_the_whole_graph(api, subnet_id):
    r = api.post(LB, json=example(subnet_id))
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["vip_address"].startswith("127.1.")

    (lis,) = lb["listeners"]
    (pool,) = lb["pools"]
    # full nested objects, Octavia's keys minus the ones it leaves out of nested objects
    assert LISTENER_NESTED_ABSENT.isdisjoint(lis)
    assert POOL_NESTED_ABSENT.isdisjoint(pool)
    assert "pools" not in pool["healthmonitor"]
    assert set(lb) == KEYS["loadbalancer"]
    assert set(lis) == KEYS["listener"] - LISTENER_NESTED_ABSENT
    assert set(pool) == KEYS["pool"] - POOL_NESTED_ABSENT | {"healthmonitor"}
    assert set(pool["healthmonitor"]) == KEYS["healthmonitor"] - {"pools"}
    assert all(set(m) == KEYS["member"] for m in pool["members"])
    assert lis["name"] == "http" and lis["protocol"] == "HTTP" and lis["protocol_port"] == 80
    assert lis["default_pool_id"] == pool["id"]
    assert lis["l7policies"] == []
    assert pool["listeners"] == [{"id": lis["id"]}]
    assert pool["lb_algorithm"] == "ROUND_ROBIN"
    hm = pool["healthmonitor"]
    assert (hm["type"], hm["delay"], hm["timeout"], hm["max_retries"]) == ("HTTP", 2, 1, 2)
    assert (hm["url_path"], hm["http_method"], hm["expected_codes"]) == ("/health", "GET", "200")
    assert hm["max_retries_down"] == 3
    members = {m["address"]: m for m in pool["members"]}
    assert set(members) == {"10.0.0.11", "10.0.0.12"}
    assert members["10.0.0.12"]["weight"] == 3 and members["10.0.0.11"]["weight"] == 1
    for obj in (lis, pool, hm, *members.values()):
        assert obj["provisioning_status"] == "PENDING_CREATE"
        assert obj["project_id"] == obj["tenant_id"] == lb["project_id"]
    for obj in (lis, pool, hm):
        assert obj["operating_status"] == "OFFLINE"
    # the pool has a monitor: members start OFFLINE, not NO_MONITOR (§7.2)
    assert {m["operating_status"] for m in members.values()} == {"OFFLINE"}

    # plain shows list the children by id
    shown = api.get(f"{LB}/{lb['id']}").json()["loadbalancer"]
    assert shown["listeners"] == [{"id": lis["id"]}]
    assert shown["pools"] == [{"id": pool["id"]}]

    settle(lb["id"])
    assert api.get(f"{LB}/{lb['id']}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE"
    got_lis = api.get(f"/v2/lbaas/listeners/{lis['id']}").json()["listener"]
    assert got_lis["provisioning_status"] == "ACTIVE"
    assert got_lis["default_pool_id"] == pool["id"]
    assert got_lis["loadbalancers"] == [{"id": lb["id"]}]
    got_pool = api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]
    assert got_pool["provisioning_status"] == "ACTIVE"
    assert got_pool["healthmonitor_id"] == hm["id"]
    assert sorted(x["id"] for x in got_pool["members"]) == sorted(
        m["id"] for m in members.values())
    got_hm = api.get(f"/v2/lbaas/healthmonitors/{hm['id']}").json()["healthmonitor"]
    assert got_hm["provisioning_status"] == "ACTIVE"
    assert got_hm["pools"] == [{"id": pool["id"]}]
    for m in members.values():
        got = api.get(f"/v2/lbaas/pools/{pool['id']}/members/{m['id']}").json()["member"]
        assert got["provisioning_status"] == "ACTIVE"
        assert got["address"] == m["address"]
    tree = api.get(f"{LB}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["listeners"][0]["pools"][0]["health_monitor"]["id"] == hm["id"]
    assert len(tree["listeners"][0]["pools"][0]["members"]) == 2


def test_nested_pools_l7_redirects_by_name_and_rules(api, subnet_id):
    body = {"loadbalancer": {
        "name": "lb2", "vip_subnet_id": subnet_id,
        "listeners": [
            {"name": "front", "protocol": "HTTP", "protocol_port": 8080,
             # a full definition nested in the listener: hoisted into the pool list
             "default_pool": {"name": "web", "protocol": "HTTP",
                              "lb_algorithm": "LEAST_CONNECTIONS",
                              "members": [{"address": "10.0.1.1", "protocol_port": 80}]},
             "l7policies": [
                 {"name": "to-api", "action": "REDIRECT_TO_POOL",
                  "redirect_pool": {"name": "api"},
                  "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                             "value": "/api"}]},
                 {"name": "old", "action": "REDIRECT_TO_URL", "position": 1,
                  "redirect_url": "http://example.com/new",
                  "rules": [{"type": "HOST_NAME", "compare_type": "EQUAL_TO",
                             "value": "old.example.com"},
                            {"type": "HEADER", "compare_type": "CONTAINS", "key": "X-Old",
                             "value": "yes", "invert": True}]}]},
            {"name": "raw", "protocol": "TCP", "protocol_port": 9000,
             "default_pool": {"name": "web"}}],  # referenced by name from a 2nd listener
        "pools": [{"name": "api", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "session_persistence": {"type": "HTTP_COOKIE"},
                   "members": [{"address": "10.0.2.1", "protocol_port": 81}]}]}}
    r = api.post(LB, json=body)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    pools = _by_name(lb["pools"])
    listeners = _by_name(lb["listeners"])
    assert set(pools) == {"web", "api"} and set(listeners) == {"front", "raw"}
    web, api_pool = pools["web"], pools["api"]
    assert web["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert web["healthmonitor"] is None
    assert web["members"][0]["operating_status"] == "NO_MONITOR"  # no monitor on the pool
    assert api_pool["session_persistence"]["type"] == "HTTP_COOKIE"
    assert listeners["front"]["default_pool_id"] == web["id"]
    assert listeners["raw"]["default_pool_id"] == web["id"]
    assert sorted(x["id"] for x in web["listeners"]) == sorted(
        [listeners["front"]["id"], listeners["raw"]["id"]])
    # the redirect makes `front` a user of `api` (enabled policy with a rule)
    assert api_pool["listeners"] == [{"id": listeners["front"]["id"]}]

    policies = listeners["front"]["l7policies"]
    assert [p["name"] for p in policies] == ["old", "to-api"]  # position 1 went first
    assert [p["position"] for p in policies] == [1, 2]
    old, to_api = policies
    assert to_api["action"] == "REDIRECT_TO_POOL" and to_api["redirect_pool_id"] == api_pool["id"]
    assert old["action"] == "REDIRECT_TO_URL" and old["redirect_http_code"] == 302
    assert old["listener_id"] == listeners["front"]["id"]
    assert {r["type"] for r in old["rules"]} == {"HOST_NAME", "HEADER"}
    header = next(r for r in old["rules"] if r["type"] == "HEADER")
    assert header["key"] == "X-Old" and header["invert"] is True
    for obj in (*policies, *old["rules"], *to_api["rules"]):
        assert obj["provisioning_status"] == "PENDING_CREATE"
        assert obj["project_id"] == obj["tenant_id"] == lb["project_id"]
    assert listeners["raw"]["l7policies"] == []

    settle(lb["id"])
    for p in policies:
        got = api.get(f"/v2/lbaas/l7policies/{p['id']}").json()["l7policy"]
        assert got["provisioning_status"] == "ACTIVE"
        for rule in p["rules"]:
            got_rule = api.get(f"/v2/lbaas/l7policies/{p['id']}/rules/{rule['id']}")
            assert got_rule.json()["rule"]["provisioning_status"] == "ACTIVE"
    for plural, key, objs in (("listeners", "listener", listeners.values()),
                              ("pools", "pool", pools.values())):
        for o in objs:
            got = api.get(f"/v2/lbaas/{plural}/{o['id']}").json()[key]
            assert got["provisioning_status"] == "ACTIVE", (plural, got)
    assert api.get(f"{LB}/{lb['id']}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE"


def test_pools_alone_and_plain_create_unchanged(api, subnet_id):
    r = api.post(LB, json={"loadbalancer": {
        "vip_subnet_id": subnet_id,
        "pools": [{"protocol": "TCP", "lb_algorithm": "SOURCE_IP"}]}})  # unnamed: fine
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["listeners"] == [] and len(lb["pools"]) == 1
    assert lb["pools"][0]["members"] == [] and lb["pools"][0]["healthmonitor"] is None
    r = api.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet_id, "listeners": [],
                                            "pools": []}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["pools"] == []


# --- errors: a 4xx and nothing created -----------------------------------------------------

def _mutate(fn):
    def make(subnet_id):
        body = example(subnet_id)
        fn(body["loadbalancer"])
        return body
    return make


def _set(path: str, value):
    def fn(lb):
        target = lb
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        target[int(last) if last.isdigit() else last] = value
    return fn


def _add_listener(extra: dict):
    return lambda lb: lb["listeners"].append(extra)


BAD = [
    ("listener/pool protocol pair",
     _set("pools.0.protocol", "HTTPS"), 400,
     "Validation failure: The pool protocol 'HTTPS' is invalid while the listener protocol "
     "is 'HTTP'."),
    ("pool name that does not exist",
     _set("listeners.0.default_pool", {"name": "nope"}), 400,
     "Validation failure: Pool 'nope' was referenced but no full definition was found."),
    ("unnamed referenced pool",
     _set("listeners.0.default_pool", {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
     400, "Validation failure: Pools must be named when creating a fully populated "
     "loadbalancer."),
    ("duplicate pool names",
     _set("listeners.0.default_pool", {"name": "web", "protocol": "HTTP",
                                        "lb_algorithm": "ROUND_ROBIN"}), 400,
     "Validation failure: Pool names must be unique when creating a fully populated "
     "loadbalancer."),
    ("full pool definition without lb_algorithm",
     _set("pools.0.lb_algorithm", None), 400,
     "Validation failure: Pool definition for 'web' missing required attribute: "
     "lb_algorithm"),
    ("duplicate listener ports",
     _add_listener({"name": "dup", "protocol": "TCP", "protocol_port": 80}), 409,
     "Another Listener on this Load Balancer is already using protocol HTTP and "
     "protocol_port 80"),
    ("bad member address",
     _set("pools.0.members.1.address", "10.0.0.300"), 400,
     "Invalid input for field/attribute address. Value: '10.0.0.300'. "
     "Value should be IPv4 or IPv6 format"),
    ("reserved member address",
     _set("pools.0.members.1.address", "169.254.169.254"), 400,
     "169.254.169.254 is not a valid option for member address"),
    ("duplicate member",
     _set("pools.0.members.1", {"address": "10.0.0.11", "protocol_port": 8080}), 409,
     "Another member on this pool is already using ip 10.0.0.11 on protocol_port 8080"),
    ("monitor type for another pool protocol",
     _set("pools.0.healthmonitor", {"type": "UDP-CONNECT", "delay": 5, "timeout": 2,
                                     "max_retries": 2}), 400,
     "Validation failure: The UDP-CONNECT type is only supported for pools of type "
     "UDP/SCTP."),
    ("HTTP option on a TCP monitor",
     _set("pools.0.healthmonitor", {"type": "TCP", "delay": 5, "timeout": 2,
                                     "max_retries": 2, "url_path": "/"}), 400,
     "url_path is not a valid option for health monitors of type TCP"),
    ("bad session persistence",
     _set("pools.0.session_persistence", {"type": "APP_COOKIE"}), 400,
     'Validation failure: Field "cookie_name" must be specified when using the '
     '"APP_COOKIE" session persistence type.'),
    ("insert_headers on a TCP listener",
     _add_listener({"protocol": "TCP", "protocol_port": 81,
                    "insert_headers": {"X-Forwarded-For": "true"}}), 400,
     "insert-headers is not a valid option for a TCP protocol listener."),
    ("bad L7 rule",
     _set("listeners.0.l7policies", [{"action": "REJECT", "rules": [
         {"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}]}]), 400,
     "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"),
    ("redirect to a pool of another protocol",
     lambda lb: (lb["pools"].append({"name": "tls", "protocol": "HTTPS",
                                     "lb_algorithm": "ROUND_ROBIN"}),
                 lb["listeners"][0].update(l7policies=[
                     {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "tls"}}])),
     400, "Validation failure: The pool protocol 'HTTPS' is invalid while the listener "
     "protocol is 'HTTP'."),
    ("parent id in a nested listener",
     _set("listeners.0.loadbalancer_id", "8f4a1c84-7d2b-4a53-8e38-8d9c5d2b6f10"), 400,
     "Unknown attribute for argument load_balancer.loadbalancer.listeners: loadbalancer_id"),
    ("project in a nested member",
     _set("pools.0.members.0.project_id", "other"), 400,
     "Unknown attribute for argument load_balancer.loadbalancer.pools.members: project_id"),
]


@pytest.mark.parametrize("make,status,faultstring", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_invalid_graph_creates_nothing(api, subnet_id, make, status, faultstring):
    before = _ports(api)
    r = api.post(LB, json=_mutate(make)(subnet_id))
    _fault(r, status, faultstring)
    _nothing_created(api, before)


def test_the_same_objects_are_accepted_when_valid(api, subnet_id):
    """Guard for the table above: the example itself goes through."""
    assert api.post(LB, json=example(subnet_id)).status_code == 201


@pytest.mark.parametrize("limits,word", [
    ({"member": 1}, "Member"),
    ({"health_monitor": 0}, "Health Monitor"),
    ({"listener": 0}, "Listener"),
    ({"pool": 0}, "Pool"),
    ({"load_balancer": 0}, "Load Balancer"),
])
def test_quota_met_in_the_middle_of_the_graph_creates_nothing(api, subnet_id, limits, word):
    r = api.put("/v2/lbaas/quotas/octolb", json={"quota": limits})
    assert r.status_code == 202, r.text
    before = _ports(api)
    _fault(api.post(LB, json=example(subnet_id)), 403,
           f"Quota has been met for resources: {word}")
    _nothing_created(api, before)


def test_member_quota_counts_every_pool(api, subnet_id):
    api.put("/v2/lbaas/quotas/octolb", json={"quota": {"member": 3}})
    body = example(subnet_id)
    body["loadbalancer"]["pools"].append({"name": "b", "protocol": "HTTP",
                                          "lb_algorithm": "ROUND_ROBIN",
                                          "members": copy.deepcopy(MEMBERS)})
    before = _ports(api)
    _fault(api.post(LB, json=body), 403, "Quota has been met for resources: Member")
    _nothing_created(api, before)
    body["loadbalancer"]["pools"][1]["members"].pop()
    assert api.post(LB, json=body).status_code == 201


def test_rbac_is_the_load_balancer_create(api, subnet_id):
    before = _ports(api)
    r = api.post(LB, json=example(subnet_id),
                 headers={"X-Project-Id": "p1", "X-Roles": "reader"})
    _fault(r, 403, "Policy does not allow this request to be performed.")
    _nothing_created(api, before)
    r = api.post(LB, json=example(subnet_id),
                 headers={"X-Project-Id": "p1", "X-Roles": "member,reader"})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["project_id"] == "p1"
    assert {o["project_id"] for o in lb["listeners"] + lb["pools"]
            + lb["pools"][0]["members"]} == {"p1"}


def test_provider_refusal_inside_the_graph_creates_nothing(api, subnet_id):
    """A 501 (what the amphora provider cannot do yet) rolls back like any other error."""
    body = example(subnet_id)
    body["loadbalancer"]["pools"].append({"name": "u", "protocol": "UDP",
                                          "lb_algorithm": "ROUND_ROBIN"})
    before = _ports(api)
    r = api.post(LB, json=body)
    assert r.status_code == 501, r.text
    assert r.json()["faultstring"] == ("Provider 'amphora' does not support a requested "
                                       "option: UDP pools are not available yet in this "
                                       "release.")
    _nothing_created(api, before)


def test_two_unnamed_pools_are_refused_as_octavia_does(api, subnet_id):
    """Octavia compares every pool's name, unset ones included."""
    before = _ports(api)
    r = api.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet_id, "pools": [
        {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"},
        {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]}})
    _fault(r, 400, "Validation failure: Pool names must be unique when creating a fully "
           "populated loadbalancer.")
    _nothing_created(api, before)

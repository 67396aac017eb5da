"""Quotas (Octavia §9.8): the endpoints, both key spellings, defaults from [quotas], and the
403 on a create that would exceed a limit. Concurrency: tests/integration/
test_quota_concurrency.py."""

from __future__ import annotations

import pytest

from octolb import config
from octolb.controller.reconcile import _delete_lb_rows
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from tests.api.conftest import settle

Q = "/v2/lbaas/quotas"
ALL_KEYS = {"load_balancer", "loadbalancer", "listener", "pool", "health_monitor",
            "healthmonitor", "member", "l7policy", "l7rule", "project_id", "tenant_id"}
READER = {"X-Project-Id": "tenant-a", "X-Roles": "member,reader"}


@pytest.fixture
def project(api):
    return "octolb"  # the noauth project the fixtures' objects belong to


def _lb(api, subnet_id, **extra):
    return api.post("/v2/lbaas/loadbalancers",
                    json={"loadbalancer": {"vip_subnet_id": subnet_id, **extra}})


def _set(api, project, **limits):
    r = api.put(f"{Q}/{project}", json={"quota": limits})
    assert r.status_code == 202, r.text
    return r.json()["quota"]


def _met(r, word: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json() == {"faultcode": "Client", "debuginfo": None,
                        "faultstring": f"Quota has been met for resources: {word}"}


# --- endpoints -----------------------------------------------------------------------

def test_defaults_are_unlimited_with_both_spellings(api):
    q = api.get(f"{Q}/defaults").json()["quota"]
    assert set(q) == ALL_KEYS
    assert all(q[k] == -1 for k in ALL_KEYS - {"project_id", "tenant_id"})
    assert q["project_id"] == q["tenant_id"] == "defaults"
    assert api.get("/v2.0/lbaas/quotas/p1/default").json()["quota"]["project_id"] == "p1"


def test_defaults_come_from_the_quotas_section(api):
    config.CONF.set_override("default_load_balancer_quota", 4, group="quotas")
    config.CONF.set_override("default_health_monitor_quota", 0, group="quotas")
    try:
        q = api.get(f"{Q}/defaults").json()["quota"]
        assert q["load_balancer"] == q["loadbalancer"] == 4
        assert q["health_monitor"] == q["healthmonitor"] == 0
        assert api.get(f"{Q}/nobody").json()["quota"]["loadbalancer"] == 4
    finally:
        config.CONF.clear_override("default_load_balancer_quota", group="quotas")
        config.CONF.clear_override("default_health_monitor_quota", group="quotas")


def test_put_accepts_both_spellings_and_answers_202_with_effective_limits(api):
    q = _set(api, "p1", load_balancer=3, healthmonitor=2, member=0)
    assert q["loadbalancer"] == q["load_balancer"] == 3
    assert q["healthmonitor"] == q["health_monitor"] == 2
    assert q["member"] == 0 and q["listener"] == -1  # never set: the default
    assert q["project_id"] == "p1"
    assert api.get(f"{Q}/p1").json()["quota"] == q


def test_canonical_spelling_wins_when_both_are_sent(api):
    q = _set(api, "p1", loadbalancer=5, load_balancer=9, health_monitor=1, healthmonitor=2)
    assert q["loadbalancer"] == 5 and q["healthmonitor"] == 2


def test_a_null_limit_means_the_default(api):
    _set(api, "p1", pool=3, listener=4)
    q = _set(api, "p1", pool=None)
    assert q["pool"] == -1 and q["listener"] == 4
    raw = api.get(Q).json()["quotas"]
    assert [(r["project_id"], r["pool"], r["listener"]) for r in raw] == [("p1", None, 4)]


def test_list_shows_stored_records_raw_with_links(api):
    assert api.get(Q).json() == {"quotas": [], "quotas_links": []}
    _set(api, "p1", loadbalancer=1)
    _set(api, "p2", member=7)
    quotas = api.get("/v2.0/lbaas/quotas").json()["quotas"]
    assert sorted(q["project_id"] for q in quotas) == ["p1", "p2"]
    p2 = next(q for q in quotas if q["project_id"] == "p2")
    assert set(p2) == ALL_KEYS and p2["member"] == 7 and p2["loadbalancer"] is None
    assert [q["project_id"] for q in api.get(f"{Q}?project_id=p1").json()["quotas"]] == ["p1"]


def test_delete_resets_to_defaults_with_202_and_404s_unknown_projects(api):
    _set(api, "p1", loadbalancer=1, listener=2)
    r = api.delete(f"{Q}/p1")
    assert r.status_code == 202 and r.content == b""
    q = api.get(f"{Q}/p1").json()["quota"]
    assert q["loadbalancer"] == -1 and q["listener"] == -1
    r = api.delete(f"{Q}/never-set")
    assert r.status_code == 404
    assert r.json()["faultstring"] == "Quotas never-set not found."


@pytest.mark.parametrize("body, text", [
    ({"quota": {"pool": -2}}, "Value should be greater or equal to -1"),
    ({"quota": {"pool": 2000000001}}, "Value should be lower or equal to 2000000000"),
    ({"quota": {"pool": "many"}}, "Wrong type. Expected 'int', got 'many'"),
    ({"quota": {"pools": 1}}, "Unknown attribute for argument quotas.quota: pools"),
    ({"quotas": {"pool": 1}}, "Unknown attribute for argument quotas: quotas"),
])
def test_bad_limits_are_400_with_a_faultstring(api, body, text):
    r = api.put(f"{Q}/p1", json=body)
    assert r.status_code == 400, r.text
    assert text in r.json()["faultstring"] and r.json()["faultcode"] == "Client"
    assert api.get(Q).json()["quotas"] == []  # nothing stored


def test_a_project_id_with_a_control_character_is_400(api):
    r = api.put(f"{Q}/p%0A1", json={"quota": {"pool": 1}})
    assert r.status_code == 400 and r.json()["faultcode"] == "Client"


def test_a_project_reads_its_own_quota_but_not_another_nor_writes(api):
    _set(api, "tenant-a", pool=2)
    _set(api, "tenant-b", pool=3)
    assert api.get(f"{Q}/tenant-a", headers=READER).json()["quota"]["pool"] == 2
    assert api.get(f"{Q}/tenant-a/default", headers=READER).status_code == 200
    assert api.get(f"{Q}/defaults", headers=READER).status_code == 200
    assert [q["project_id"] for q in api.get(Q, headers=READER).json()["quotas"]] == [
        "tenant-a"]
    for r in (api.get(f"{Q}/tenant-b", headers=READER),
              api.get(f"{Q}?project_id=tenant-b", headers=READER),
              api.put(f"{Q}/tenant-a", json={"quota": {"pool": 9}}, headers=READER),
              api.delete(f"{Q}/tenant-a", headers=READER)):
        assert r.status_code == 403, r.text
        assert r.json()["faultstring"] == "Policy does not allow this request to be performed."
    assert api.get(f"{Q}/tenant-a").json()["quota"]["pool"] == 2


# --- enforcement ---------------------------------------------------------------------

def test_load_balancer_quota_refuses_the_next_create_with_403(api, subnet_id, project):
    _set(api, project, load_balancer=2)
    assert _lb(api, subnet_id).status_code == 201
    assert _lb(api, subnet_id).status_code == 201
    _met(_lb(api, subnet_id), "Load Balancer")
    # another project is not affected
    assert _lb(api, subnet_id, project_id="someone-else").status_code == 201
    # and nothing of the refused create remains (no VIP port left behind)
    ports = api.get("/network/v2.0/ports").json()["ports"]
    assert len(ports) == 3


def test_a_quota_of_zero_forbids_and_minus_one_is_unlimited(api, subnet_id, project):
    _set(api, project, loadbalancer=0)
    _met(_lb(api, subnet_id), "Load Balancer")
    _set(api, project, loadbalancer=-1)
    for _ in range(3):
        assert _lb(api, subnet_id).status_code == 201


def test_deleted_load_balancers_stop_counting(api, subnet_id, project):
    _set(api, project, load_balancer=1)
    lb = _lb(api, subnet_id).json()["loadbalancer"]["id"]
    settle(lb)
    _met(_lb(api, subnet_id), "Load Balancer")
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb}").status_code == 204
    _met(_lb(api, subnet_id), "Load Balancer")  # PENDING_DELETE still counts (Octavia)
    with dbs.transaction() as s:  # what the worker does when the delete is done
        _delete_lb_rows(s, s.get(LoadBalancer, lb))
    assert _lb(api, subnet_id).status_code == 201


def test_the_default_quota_applies_to_projects_without_a_record(api, subnet_id):
    config.CONF.set_override("default_load_balancer_quota", 1, group="quotas")
    try:
        assert _lb(api, subnet_id, project_id="fresh").status_code == 201
        _met(_lb(api, subnet_id, project_id="fresh"), "Load Balancer")
    finally:
        config.CONF.clear_override("default_load_balancer_quota", group="quotas")


def test_listener_quota(api, lb, project):
    _set(api, project, listener=1)
    body = {"listener": {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}}
    assert api.post("/v2/lbaas/listeners", json=body).status_code == 201
    settle(lb)
    body["listener"]["protocol_port"] = 81
    _met(api.post("/v2/lbaas/listeners", json=body), "Listener")
    # the refused create left the load balancer free
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"


def test_pool_quota(api, lb, project):
    _set(api, project, pool=1)
    body = {"pool": {"loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}
    assert api.post("/v2/lbaas/pools", json=body).status_code == 201
    settle(lb)
    _met(api.post("/v2/lbaas/pools", json=body), "Pool")


def test_member_quota(api, lb, pool, project):
    _set(api, project, member=1)
    url = f"/v2/lbaas/pools/{pool}/members"
    assert api.post(url, json={"member": {"address": "127.0.0.1",
                                          "protocol_port": 8080}}).status_code == 201
    settle(lb)
    _met(api.post(url, json={"member": {"address": "127.0.0.1", "protocol_port": 8081}}),
         "Member")


def test_batch_member_update_counts_net_additions(api, lb, pool, project):
    url = f"/v2/lbaas/pools/{pool}/members"
    assert api.post(url, json={"member": {"address": "127.0.0.1",
                                          "protocol_port": 1}}).status_code == 201
    settle(lb)
    _set(api, project, member=2)
    three = [{"address": "127.0.0.2", "protocol_port": p} for p in (1, 2, 3)]
    _met(api.put(url, json={"members": three}), "Member")  # 1 - 1 + 3 > 2
    # replacing the one member with two: net +1, within the quota
    assert api.put(url, json={"members": three[:2]}).status_code == 202
    settle(lb)
    _met(api.put(f"{url}?additive_only=true", json={"members": three[2:]}), "Member")
    # an update of the members already there adds nothing
    assert api.put(url, json={"members": three[:2]}).status_code == 202


def test_health_monitor_quota(api, lb, pool, project):
    _set(api, project, healthmonitor=0)
    body = {"healthmonitor": {"pool_id": pool, "type": "HTTP", "delay": 5, "timeout": 3,
                              "max_retries": 3}}
    _met(api.post("/v2/lbaas/healthmonitors", json=body), "Health Monitor")
    _set(api, project, health_monitor=1)
    assert api.post("/v2/lbaas/healthmonitors", json=body).status_code == 201


def test_a_first_create_records_the_project(api, subnet_id):
    assert _lb(api, subnet_id, project_id="p9").status_code == 201
    assert [q["project_id"] for q in api.get(Q).json()["quotas"]] == ["p9"]

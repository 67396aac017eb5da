"""RBAC: Octavia's oslo.policy rules (§8) for each persona, list scoping, legacy roles,
policy-file overrides, and how noauth / keystone fill the request context.

Callers are told apart by X-Project-Id / X-Roles, which noauth honours by default
(`noauth_trust_headers`). Objects live in project `p1` (a full LB graph) and `p2` (an LB).
"""

from __future__ import annotations

import pytest

from octolb import config
from tests.api.conftest import settle

FORBIDDEN = {"faultcode": "Client",
             "faultstring": "Policy does not allow this request to be performed.",
             "debuginfo": None}

ADMIN = {"X-Project-Id": "adminproj", "X-Roles": "admin,member,reader"}
MEMBER = {"X-Project-Id": "p1", "X-Roles": "member,reader"}
READER = {"X-Project-Id": "p1", "X-Roles": "reader"}
OTHER_MEMBER = {"X-Project-Id": "p2", "X-Roles": "member,reader"}
NO_ROLES = {"X-Project-Id": "p1", "X-Roles": ""}
LEGACY_MEMBER = {"X-Project-Id": "p1", "X-Roles": "load-balancer_member"}
LEGACY_OBSERVER = {"X-Project-Id": "p1", "X-Roles": "load-balancer_observer"}
LEGACY_GLOBAL = {"X-Project-Id": "p3", "X-Roles": "load-balancer_global_observer"}
LEGACY_ADMIN = {"X-Project-Id": "p3", "X-Roles": "load-balancer_admin"}

LB = "/v2/lbaas/loadbalancers"


def _create(api, path, key, body, lb_id):
    r = api.post(path, json={key: body}, headers=ADMIN)
    assert r.status_code == 201, r.text
    settle(lb_id)
    return r.json()[key]["id"]


@pytest.fixture
def world(api, subnet_id):
    ids = {}
    for project in ("p1", "p2"):
        r = api.post(LB, headers=ADMIN, json={"loadbalancer": {
            "name": f"lb-{project}", "vip_subnet_id": subnet_id, "project_id": project}})
        assert r.status_code == 201, r.text
        ids[f"lb_{project}"] = lb = r.json()["loadbalancer"]["id"]
        settle(lb)
    lb = ids["lb_p1"]
    ids["listener"] = _create(api, "/v2/lbaas/listeners", "listener", {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}, lb)
    ids["pool"] = _create(api, "/v2/lbaas/pools", "pool", {
        "listener_id": ids["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}, lb)
    ids["member"] = _create(api, f"/v2/lbaas/pools/{ids['pool']}/members", "member", {
        "address": "127.0.0.10", "protocol_port": 8080}, lb)
    ids["hm"] = _create(api, "/v2/lbaas/healthmonitors", "healthmonitor", {
        "pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3,
        "max_retries": 3}, lb)
    return ids


@pytest.fixture(autouse=True)
def _clear_overrides():
    yield
    for group, names in (("api_settings", ("auth_strategy", "noauth_trust_headers",
                                           "noauth_roles", "noauth_project_id")),
                         ("oslo_policy", ("policy_file", "enforce_new_defaults"))):
        for name in names:
            config.CONF.clear_override(name, group=group)


@pytest.fixture
def legacy(api):
    """enforce_new_defaults = False: the load-balancer_* roles count too."""
    config.CONF.set_override("enforce_new_defaults", False, group="oslo_policy")


def _override(tmp_path, text: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    config.CONF.set_override("policy_file", str(path), group="oslo_policy")


def forbidden(r) -> bool:
    assert r.status_code == 403, (r.status_code, r.text)
    assert r.json() == FORBIDDEN
    return True


def names(r, plural="loadbalancers") -> set[str]:
    assert r.status_code == 200, r.text
    return {o["name"] for o in r.json()[plural]}


def project_ids(r, plural) -> set[str]:
    assert r.status_code == 200, r.text
    return {o["project_id"] for o in r.json()[plural]}


# --- new defaults (oslo.policy's default: enforce_new_defaults = True) ---------------------

def test_reader_reads_every_own_object(api, world):
    lb, pool = world["lb_p1"], world["pool"]
    for path in (f"{LB}/{lb}", f"{LB}/{lb}/stats", f"{LB}/{lb}/status",
                 f"/v2/lbaas/listeners/{world['listener']}",
                 f"/v2/lbaas/listeners/{world['listener']}/stats",
                 f"/v2/lbaas/pools/{pool}", f"/v2/lbaas/pools/{pool}/members",
                 f"/v2/lbaas/pools/{pool}/members/{world['member']}",
                 f"/v2/lbaas/healthmonitors/{world['hm']}", "/v2/lbaas/providers"):
        assert api.get(path, headers=READER).status_code == 200, path


def test_reader_cannot_write(api, world):
    lb, pool = world["lb_p1"], world["pool"]
    assert forbidden(api.put(f"{LB}/{lb}", json={"loadbalancer": {"name": "x"}},
                             headers=READER))
    assert forbidden(api.delete(f"{LB}/{lb}", headers=READER))
    assert forbidden(api.post("/v2/lbaas/listeners", headers=READER, json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 81}}))
    assert forbidden(api.put(f"/v2/lbaas/pools/{pool}", json={"pool": {"name": "x"}},
                             headers=READER))
    assert forbidden(api.delete(f"/v2/lbaas/pools/{pool}/members/{world['member']}",
                                headers=READER))
    assert forbidden(api.put(f"/v2/lbaas/pools/{pool}/members", json={"members": []},
                             headers=READER))
    assert forbidden(api.delete(f"/v2/lbaas/healthmonitors/{world['hm']}", headers=READER))
    assert api.get(f"{LB}/{lb}", headers=ADMIN).json()["loadbalancer"]["name"] == "lb-p1"


def test_member_writes_in_own_project(api, world, subnet_id):
    lb = world["lb_p1"]
    r = api.put(f"{LB}/{lb}", json={"loadbalancer": {"name": "renamed"}}, headers=MEMBER)
    assert r.status_code == 200, r.text
    settle(lb)
    r = api.post("/v2/lbaas/listeners", headers=MEMBER, json={"listener": {
        "loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 81}})
    assert r.status_code == 201, r.text
    settle(lb)
    r = api.put(f"/v2/lbaas/pools/{world['pool']}/members/{world['member']}",
                json={"member": {"weight": 5}}, headers=MEMBER)
    assert r.status_code == 200, r.text
    settle(lb)
    r = api.post(LB, headers=MEMBER, json={"loadbalancer": {"vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == "p1"  # the caller's project


def test_member_is_refused_admin_apis(api, world):
    lb = world["lb_p1"]
    assert forbidden(api.put(f"{LB}/{lb}/failover", headers=MEMBER))
    assert forbidden(api.get("/v2/octavia/amphorae", headers=MEMBER))
    assert forbidden(api.get("/v2/lbaas/providers/amphora/flavor_capabilities",
                             headers=MEMBER))
    assert forbidden(api.get("/v2/lbaas/providers/amphora/availability_zone_capabilities",
                             headers=MEMBER))


def test_member_cannot_create_in_another_project(api, world, subnet_id):
    assert forbidden(api.post(LB, headers=MEMBER, json={"loadbalancer": {
        "vip_subnet_id": subnet_id, "project_id": "p2"}}))


def test_other_projects_objects_are_forbidden(api, world):
    lb, pool = world["lb_p1"], world["pool"]
    for path in (f"{LB}/{lb}", f"{LB}/{lb}/stats", f"{LB}/{lb}/status",
                 f"/v2/lbaas/listeners/{world['listener']}", f"/v2/lbaas/pools/{pool}",
                 f"/v2/lbaas/pools/{pool}/members",
                 f"/v2/lbaas/healthmonitors/{world['hm']}"):
        assert forbidden(api.get(path, headers=OTHER_MEMBER))
    assert forbidden(api.put(f"/v2/lbaas/pools/{pool}", json={"pool": {"name": "x"}},
                             headers=OTHER_MEMBER))
    assert forbidden(api.post("/v2/lbaas/listeners", headers=OTHER_MEMBER, json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 81}}))
    assert forbidden(api.post(f"/v2/lbaas/pools/{pool}/members", headers=OTHER_MEMBER,
                              json={"member": {"address": "127.0.0.11",
                                               "protocol_port": 80}}))
    assert forbidden(api.delete(f"{LB}/{lb}?cascade=true", headers=OTHER_MEMBER))


def test_unknown_object_is_404_not_403(api, world):
    r = api.get(f"{LB}/00000000-0000-0000-0000-000000000000", headers=OTHER_MEMBER)
    assert r.status_code == 404


def test_lists_are_scoped_to_the_callers_project(api, world):
    assert names(api.get(LB, headers=READER)) == {"lb-p1"}
    assert names(api.get(LB, headers=OTHER_MEMBER)) == {"lb-p2"}
    assert names(api.get(f"{LB}?project_id=p1", headers=READER)) == {"lb-p1"}
    assert project_ids(api.get("/v2/lbaas/listeners", headers=READER), "listeners") == {"p1"}
    assert api.get("/v2/lbaas/listeners", headers=OTHER_MEMBER).json()["listeners"] == []
    assert api.get("/v2/lbaas/pools", headers=OTHER_MEMBER).json()["pools"] == []
    assert api.get("/v2/lbaas/healthmonitors",
                   headers=OTHER_MEMBER).json()["healthmonitors"] == []
    assert len(api.get("/v2/lbaas/pools", headers=READER).json()["pools"]) == 1


def test_tenant_asking_for_another_projects_list_is_refused(api, world):
    for plural in ("loadbalancers", "listeners", "pools", "healthmonitors"):
        assert forbidden(api.get(f"/v2/lbaas/{plural}?project_id=p1", headers=OTHER_MEMBER))


def test_admin_sees_every_project_and_can_filter(api, world):
    assert names(api.get(LB, headers=ADMIN)) == {"lb-p1", "lb-p2"}
    assert names(api.get(f"{LB}?project_id=p2", headers=ADMIN)) == {"lb-p2"}
    assert project_ids(api.get("/v2/lbaas/listeners", headers=ADMIN), "listeners") == {"p1"}
    assert api.get("/v2/octavia/amphorae", headers=ADMIN).status_code == 200
    assert api.get("/v2/lbaas/providers/amphora/flavor_capabilities",
                   headers=ADMIN).status_code == 200
    assert api.put(f"{LB}/{world['lb_p2']}/failover", headers=ADMIN).status_code == 202


def test_admin_writes_in_any_project(api, world):
    r = api.put(f"/v2/lbaas/pools/{world['pool']}", json={"pool": {"name": "by-admin"}},
                headers=ADMIN)
    assert r.status_code == 200, r.text


def test_caller_without_roles_gets_nothing(api, world):
    assert forbidden(api.get(f"{LB}/{world['lb_p1']}", headers=NO_ROLES))
    assert forbidden(api.get(LB, headers=NO_ROLES))
    assert forbidden(api.get("/v2/lbaas/providers", headers=NO_ROLES))
    assert forbidden(api.get(f"/v2/lbaas/pools/{world['pool']}/members", headers=NO_ROLES))


def test_service_role_lists_members_of_any_pool_only(api, world):
    service = {"X-Project-Id": "services", "X-Roles": "service"}
    r = api.get(f"/v2/lbaas/pools/{world['pool']}/members", headers=service)
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["members"]] == [world["member"]]
    assert forbidden(api.get(f"/v2/lbaas/pools/{world['pool']}/members/{world['member']}",
                             headers=service))
    assert forbidden(api.get(f"/v2/lbaas/pools/{world['pool']}", headers=service))


def test_legacy_roles_are_ignored_under_new_defaults(api, world):
    assert forbidden(api.get(f"{LB}/{world['lb_p1']}", headers=LEGACY_MEMBER))
    assert forbidden(api.get(LB, headers=LEGACY_GLOBAL))
    assert forbidden(api.get("/v2/octavia/amphorae", headers=LEGACY_ADMIN))


def test_system_scoped_admin_is_refused(api, world):
    r = api.get(f"{LB}/{world['lb_p1']}",
                headers={**ADMIN, "OpenStack-System-Scope": "all"})
    assert r.status_code == 200  # noauth reads only X-Project-Id / X-Roles / X-User-Id
    config.CONF.set_override("auth_strategy", "keystone", group="api_settings")
    assert forbidden(api.get(f"{LB}/{world['lb_p1']}",
                             headers={**ADMIN, "OpenStack-System-Scope": "all"}))


# --- legacy roles (enforce_new_defaults = False) -------------------------------------------

def test_legacy_member_and_observer(api, world, legacy):
    lb = world["lb_p1"]
    assert names(api.get(LB, headers=LEGACY_OBSERVER)) == {"lb-p1"}
    assert api.get(f"/v2/lbaas/pools/{world['pool']}/members",
                   headers=LEGACY_OBSERVER).status_code == 200
    assert forbidden(api.put(f"{LB}/{lb}", json={"loadbalancer": {"name": "x"}},
                             headers=LEGACY_OBSERVER))
    r = api.put(f"{LB}/{lb}", json={"loadbalancer": {"name": "legacy"}},
                headers=LEGACY_MEMBER)
    assert r.status_code == 200, r.text
    assert forbidden(api.get(f"{LB}/{world['lb_p2']}", headers=LEGACY_MEMBER))
    assert forbidden(api.put(f"{LB}/{lb}/failover", headers=LEGACY_MEMBER))


def test_legacy_global_observer_reads_everything_writes_nothing(api, world, legacy):
    assert names(api.get(LB, headers=LEGACY_GLOBAL)) == {"lb-p1", "lb-p2"}
    assert api.get(f"/v2/lbaas/pools/{world['pool']}", headers=LEGACY_GLOBAL).status_code == 200
    assert forbidden(api.put(f"/v2/lbaas/pools/{world['pool']}", json={"pool": {"name": "x"}},
                             headers=LEGACY_GLOBAL))
    assert forbidden(api.get("/v2/octavia/amphorae", headers=LEGACY_GLOBAL))


def test_legacy_load_balancer_admin_is_admin(api, world, legacy):
    assert api.get("/v2/octavia/amphorae", headers=LEGACY_ADMIN).status_code == 200
    assert names(api.get(LB, headers=LEGACY_ADMIN)) == {"lb-p1", "lb-p2"}


def test_new_default_roles_still_work_in_legacy_mode(api, world, legacy):
    assert names(api.get(LB, headers=READER)) == {"lb-p1"}
    assert forbidden(api.put(f"/v2/lbaas/pools/{world['pool']}", json={"pool": {"name": "x"}},
                             headers=READER))
    r = api.put(f"/v2/lbaas/pools/{world['pool']}", json={"pool": {"name": "m"}},
                headers=MEMBER)
    assert r.status_code == 200, r.text


# --- policy file overrides -----------------------------------------------------------------

def test_policy_file_can_deny(api, world, tmp_path):
    _override(tmp_path, '"os_load-balancer_api:loadbalancer:get_one": "!"\n')
    assert forbidden(api.get(f"{LB}/{world['lb_p1']}", headers=ADMIN))
    assert api.get(LB, headers=ADMIN).status_code == 200  # other rules keep their defaults


def test_policy_file_can_grant(api, world, tmp_path):
    lb = world["lb_p1"]
    assert forbidden(api.put(f"{LB}/{lb}/failover", headers=MEMBER))
    _override(tmp_path, '"os_load-balancer_api:loadbalancer:put_failover": '
                        '"rule:load-balancer:write"\n')
    assert api.put(f"{LB}/{lb}/failover", headers=MEMBER).status_code == 202
    assert forbidden(api.put(f"{LB}/{world['lb_p2']}/failover", headers=MEMBER))


def test_policy_file_building_block_override(api, world, tmp_path):
    """Octavia's admin_or_owner sample: any user of a project manages its LBs."""
    any_role = {"X-Project-Id": "p1", "X-Roles": "somerole"}
    assert forbidden(api.get(f"{LB}/{world['lb_p1']}", headers=any_role))
    _override(tmp_path, '"load-balancer:owner": "project_id:%(project_id)s"\n'
                        '"load-balancer:read": "rule:load-balancer:owner or '
                        'rule:load-balancer:admin"\n'
                        '"load-balancer:write": "rule:load-balancer:owner or '
                        'rule:load-balancer:admin"\n')
    assert api.get(f"{LB}/{world['lb_p1']}", headers=any_role).status_code == 200
    assert forbidden(api.get(f"{LB}/{world['lb_p2']}", headers=any_role))


def test_member_batch_update_checks_delete_unless_additive(api, world, tmp_path):
    _override(tmp_path, '"os_load-balancer_api:member:delete": "!"\n')
    pool, lb = world["pool"], world["lb_p1"]
    new = {"members": [{"address": "127.0.0.12", "protocol_port": 80}]}
    assert forbidden(api.put(f"/v2/lbaas/pools/{pool}/members", json=new, headers=MEMBER))
    r = api.put(f"/v2/lbaas/pools/{pool}/members?additive_only=true", json=new,
                headers=MEMBER)
    assert r.status_code == 202, r.text
    settle(lb)
    members = api.get(f"/v2/lbaas/pools/{pool}/members", headers=MEMBER).json()["members"]
    assert len(members) == 2


# --- how the context is filled -------------------------------------------------------------

def test_noauth_without_headers_is_admin_of_the_default_project(api, subnet_id):
    r = api.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == "octolb"
    assert api.get("/v2/octavia/amphorae").status_code == 200


def test_noauth_headers_are_ignored_unless_trusted(api, world, subnet_id):
    config.CONF.set_override("noauth_trust_headers", False, group="api_settings")
    assert api.get("/v2/octavia/amphorae", headers=READER).status_code == 200  # still admin
    r = api.post(LB, headers=OTHER_MEMBER, json={"loadbalancer": {"vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == "octolb"


def test_noauth_roles_setting(api, world):
    config.CONF.set_override("noauth_trust_headers", False, group="api_settings")
    config.CONF.set_override("noauth_roles", ["reader"], group="api_settings")
    config.CONF.set_override("noauth_project_id", "p1", group="api_settings")
    assert names(api.get(LB)) == {"lb-p1"}
    assert forbidden(api.put(f"{LB}/{world['lb_p1']}", json={"loadbalancer": {"name": "x"}}))
    assert forbidden(api.get("/v2/octavia/amphorae", headers=ADMIN))


def test_keystone_mode_reads_keystonemiddleware_headers(api, world):
    config.CONF.set_override("auth_strategy", "keystone", group="api_settings")
    assert names(api.get(LB, headers=READER)) == {"lb-p1"}
    assert names(api.get(LB, headers=ADMIN)) == {"lb-p1", "lb-p2"}
    assert forbidden(api.get(LB))  # no token-derived project and no roles
    assert forbidden(api.get(LB, headers={**ADMIN, "X-Identity-Status": "Invalid"}))


def test_keystone_mode_create_without_project_is_refused(api, subnet_id):
    config.CONF.set_override("auth_strategy", "keystone", group="api_settings")
    r = api.post(LB, headers={"X-Roles": "admin"},
                 json={"loadbalancer": {"vip_subnet_id": subnet_id}})
    assert r.status_code == 400
    assert r.json()["faultstring"].startswith("Validation failure: Missing project ID")


def test_user_id_header_reaches_the_policy(api, world, tmp_path):
    _override(tmp_path, '"os_load-balancer_api:loadbalancer:get_one": "user_id:u1"\n')
    lb = world["lb_p1"]
    assert api.get(f"{LB}/{lb}", headers={**READER, "X-User-Id": "u1"}).status_code == 200
    assert forbidden(api.get(f"{LB}/{lb}", headers={**READER, "X-User-Id": "u2"}))


# --- the rule catalogue ---------------------------------------------------------------------

CRUD = {"get_all", "get_all-global", "post", "get_one", "put", "delete"}
ADMIN_CRUD = {"get_all", "post", "get_one", "put", "delete"}
OCTAVIA_API_RULES = {
    "loadbalancer": CRUD | {"post:vip_sg_ids", "put:vip_sg_ids", "get_stats", "get_status",
                            "put_failover"},
    "listener": CRUD | {"get_stats"},
    "pool": CRUD,
    "member": CRUD - {"get_all-global"},
    "healthmonitor": CRUD,
    "l7policy": CRUD,
    "l7rule": CRUD - {"get_all-global"},
    "quota": {"get_all", "get_all-global", "get_one", "put", "delete", "get_defaults"},
    "amphora": {"get_all", "get_one", "delete", "put_config", "put_failover", "get_stats"},
    "provider": {"get_all"},
    "provider-flavor": {"get_all"},
    "provider-availability-zone": {"get_all"},
    "flavor": ADMIN_CRUD,
    "flavor-profile": ADMIN_CRUD,
    "availability-zone": ADMIN_CRUD,
    "availability-zone-profile": ADMIN_CRUD,
}


def test_every_octavia_rule_name_is_registered_project_scoped():
    from octolb.api import policy

    rules = {r.name: r for r in policy.list_rules()}
    wanted = {f"os_load-balancer_api:{res}:{action}"
              for res, actions in OCTAVIA_API_RULES.items() for action in actions}
    assert wanted == {n for n in rules if n.startswith("os_load-balancer_api:")}
    assert all(rules[n].scope_types == ["project"] for n in wanted)


@pytest.mark.parametrize("action,reader,member,admin", [
    ("quota:get_one", True, True, True),
    ("quota:put", False, False, True),
    ("quota:get_all-global", False, False, True),
    ("flavor:get_all", True, True, True),
    ("flavor:post", False, False, True),
    ("flavor-profile:get_one", False, False, True),
    ("availability-zone:get_one", True, True, True),
    ("availability-zone-profile:get_all", False, False, True),
    ("l7policy:post", False, True, True),
    ("l7rule:get_all", True, True, True),
    ("amphora:delete", False, False, True),
])
def test_defaults_of_routes_other_modules_enforce(api, action, reader, member, admin):
    from octolb.api import auth

    def may(roles):
        return auth.allowed(auth.make_context("p1", roles), action, "p1")

    assert (may(["reader"]), may(["member"]), may(["admin"])) == (reader, member, admin)


def test_l7_policies_and_rules_follow_the_policy_rules(api, world):
    lb = world["lb_p1"]
    body = {"listener_id": world["listener"], "action": "REJECT"}
    assert api.post("/v2/lbaas/l7policies", json={"l7policy": body},
                    headers=READER).json() == FORBIDDEN
    assert api.post("/v2/lbaas/l7policies", json={"l7policy": body},
                    headers=OTHER_MEMBER).status_code == 403
    pol = _create(api, "/v2/lbaas/l7policies", "l7policy", body, lb)
    rules = f"/v2/lbaas/l7policies/{pol}/rules"
    rule_body = {"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}
    assert api.post(rules, json=rule_body, headers=READER).status_code == 403
    r = api.post(rules, json=rule_body, headers=MEMBER)
    assert r.status_code == 201, r.text
    settle(lb)
    rule = r.json()["rule"]["id"]
    # readers read, another project sees nothing and may not look
    assert api.get(f"/v2/lbaas/l7policies/{pol}", headers=READER).status_code == 200
    assert api.get(f"{rules}/{rule}", headers=READER).status_code == 200
    assert api.get(f"/v2/lbaas/l7policies/{pol}", headers=OTHER_MEMBER).status_code == 403
    assert api.get(rules, headers=OTHER_MEMBER).status_code == 403
    assert api.get("/v2/lbaas/l7policies", headers=OTHER_MEMBER).json()["l7policies"] == []
    assert [p["id"] for p in api.get("/v2/lbaas/l7policies",
                                     headers=READER).json()["l7policies"]] == [pol]
    assert api.put(f"{rules}/{rule}", json={"rule": {"value": "/y"}},
                   headers=READER).status_code == 403
    assert api.delete(f"/v2/lbaas/l7policies/{pol}", headers=NO_ROLES).status_code == 403
    assert api.delete(f"{rules}/{rule}", headers=MEMBER).status_code == 204

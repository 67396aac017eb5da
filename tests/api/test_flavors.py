"""Flavor profiles and flavors (API v2.6): fields, defaults, validation by the provider,
in-use rules, list features, who may do what, and load balancers created with a flavor."""

from __future__ import annotations

import json

import pytest

from octolb.config import CONF
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from tests.api.conftest import MEMBER, NIL, UNKNOWN, ProfiledAPI, created, fault, new_lb, settle

FLAVORS = ProfiledAPI(
    profiles="/v2/lbaas/flavorprofiles", profile_key="flavorprofile", data_field="flavor_data",
    profile_name="fp", choices="/v2/lbaas/flavors", choice_key="flavor",
    profile_field="flavor_profile_id", choice_name="small")
new_profile, new_flavor = FLAVORS.new_profile, FLAVORS.new_choice


@pytest.fixture
def profile(api):
    return created(new_profile(api, {"loadbalancer_topology": "SINGLE", "haproxy_maxconn": 500}),
                   "flavorprofile")


@pytest.fixture
def flavor(api, profile):
    return created(new_flavor(api, profile), "flavor")


# --- flavor profiles ---

def test_profile_create_shows_exactly_octavias_keys_and_keeps_the_data_string(api):
    data = '{"haproxy_nbthread": 2,\n "haproxy_maxconn": 1000}'
    r = new_profile(api, data)
    assert r.status_code == 201, r.text
    fp = r.json()["flavorprofile"]
    assert set(fp) == {"id", "name", "provider_name", "flavor_data"}
    assert fp["flavor_data"] == data and fp["provider_name"] == "amphora"
    shown = api.get(f"/v2/lbaas/flavorprofiles/{fp['id']}").json()["flavorprofile"]
    assert shown == fp
    assert api.get(f"/v2.0/lbaas/flavorprofiles/{fp['id']}").json()["flavorprofile"] == fp


def test_profile_list_uses_the_singular_links_key(api, profile):
    doc = api.get("/v2/lbaas/flavorprofiles").json()
    assert set(doc) == {"flavorprofiles", "flavorprofile_links"}
    assert [p["id"] for p in doc["flavorprofiles"]] == [profile]


@pytest.mark.parametrize("missing", ["name", "provider_name", "flavor_data"])
def test_profile_fields_are_mandatory(api, missing):
    body = {"name": "p", "provider_name": "amphora", "flavor_data": "{}"}
    del body[missing]
    r = api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": body})
    assert fault(r, 400) == (f"Invalid input for field/attribute {missing}. Value: 'None'. "
                             "Mandatory field missing.")
    body[missing] = None
    r = api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": body})
    assert "Mandatory field missing" in fault(r, 400)


def test_profile_data_that_is_not_json_is_an_invalid_option(api):
    assert fault(new_profile(api, "{nope"), 400) == "{nope is not a valid option for flavor_data"


def test_profile_data_longer_than_4096_is_refused(api):
    data = json.dumps({"x": "a" * 4100})
    assert "maximum character requirement of 4096" in fault(new_profile(api, data), 400)


def test_profile_of_a_provider_not_enabled_is_refused(api):
    r = new_profile(api, {}, provider="f5")
    assert fault(r, 400) == "Provider 'f5' is not enabled."


@pytest.mark.parametrize("data, why", [
    ({"compute_flavor": "m1.small"}, "'compute_flavor' is not a flavor capability"),
    ({"loadbalancer_topology": "STAR"}, "loadbalancer_topology must be one of"),
    ({"haproxy_maxconn": 0}, "haproxy_maxconn must be an integer from 1 to 1000000"),
    ({"haproxy_maxconn": 1000001}, "haproxy_maxconn must be an integer"),
    ({"haproxy_maxconn": "100"}, "haproxy_maxconn must be an integer"),
    ({"haproxy_nbthread": True}, "haproxy_nbthread must be an integer from 1 to 64"),
    ({"haproxy_nbthread": 65}, "haproxy_nbthread must be an integer from 1 to 64"),
    (["SINGLE"], "flavor must be a JSON object"),
])
def test_profile_data_the_provider_cannot_build_is_501(api, data, why):
    msg = fault(new_profile(api, data), 501)
    assert msg.startswith("Provider 'amphora' does not support a requested option: ")
    assert why in msg


def test_active_standby_is_refused_clearly_until_it_exists(api):
    msg = fault(new_profile(api, {"loadbalancer_topology": "ACTIVE_STANDBY"}), 501)
    assert msg == ("Provider 'amphora' does not support a requested option: "
                   "loadbalancer_topology ACTIVE_STANDBY is not available yet; this provider "
                   "builds SINGLE load balancers only.")


def test_every_published_capability_is_accepted_and_nothing_else(api):
    caps = api.get("/v2/lbaas/providers/amphora/flavor_capabilities").json()
    names = {c["name"] for c in caps["flavor_capabilities"]}
    assert names == {"loadbalancer_topology", "haproxy_maxconn", "haproxy_nbthread"}
    data = {"loadbalancer_topology": "SINGLE", "haproxy_maxconn": 10, "haproxy_nbthread": 2}
    assert new_profile(api, data).status_code == 201
    assert new_profile(api, data, provider="octavia").status_code == 201  # the alias


def test_profile_update_changes_fields_and_revalidates_data(api, profile):
    r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": {
        "name": "renamed", "flavor_data": '{"haproxy_nbthread": 3}'}})
    assert r.status_code == 200, r.text
    assert r.json()["flavorprofile"]["name"] == "renamed"
    assert r.json()["flavorprofile"]["flavor_data"] == '{"haproxy_nbthread": 3}'
    r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": {
        "flavor_data": '{"haproxy_nbthread": 0}'}})
    assert "haproxy_nbthread" in fault(r, 501)
    r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": {
        "provider_name": "nope"}})
    assert fault(r, 400) == "Provider 'nope' is not enabled."
    shown = api.get(f"/v2/lbaas/flavorprofiles/{profile}").json()["flavorprofile"]
    assert shown["flavor_data"] == '{"haproxy_nbthread": 3}' and shown["provider_name"] == "amphora"


@pytest.mark.parametrize("field", ["name", "provider_name", "flavor_data"])
def test_profile_update_to_null_is_refused(api, profile, field):
    r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": {field: None}})
    assert fault(r, 400) == f"None is not a valid option for {field}"


def test_profile_in_use_keeps_provider_and_data_but_may_be_renamed(api, profile, flavor):
    for change in ({"flavor_data": "{}"}, {"provider_name": "amphora"}):
        r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": change})
        assert fault(r, 409) == f"Flavor profile {profile} is in use and cannot be modified."
    r = api.put(f"/v2/lbaas/flavorprofiles/{profile}", json={"flavorprofile": {"name": "n"}})
    assert r.status_code == 200
    r = api.delete(f"/v2/lbaas/flavorprofiles/{profile}")
    assert fault(r, 409) == f"Flavor profile {profile} is in use and cannot be modified."
    assert api.delete(f"/v2/lbaas/flavors/{flavor}").status_code == 204
    assert api.delete(f"/v2/lbaas/flavorprofiles/{profile}").status_code == 204
    r = api.get(f"/v2/lbaas/flavorprofiles/{profile}")
    assert fault(r, 404) == f"Flavor profile {profile} not found."


def test_profile_unknown_and_nil_ids_are_404(api):
    for fp in (UNKNOWN, NIL):
        assert fault(api.get(f"/v2/lbaas/flavorprofiles/{fp}"), 404) == (
            f"Flavor profile {fp} not found.")
        assert api.put(f"/v2/lbaas/flavorprofiles/{fp}",
                       json={"flavorprofile": {"name": "x"}}).status_code == 404
        assert api.delete(f"/v2/lbaas/flavorprofiles/{fp}").status_code == 404


def test_profile_unknown_attribute_is_refused(api):
    r = api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": "p", "provider_name": "amphora", "flavor_data": "{}", "id": UNKNOWN}})
    assert fault(r, 400) == "Unknown attribute for argument flavorprofile_.flavorprofile: id"


# --- flavors ---

def test_flavor_create_defaults_and_keys(api, profile):
    r = new_flavor(api, profile)
    assert r.status_code == 201, r.text
    fl = r.json()["flavor"]
    assert set(fl) == {"id", "name", "description", "enabled", "flavor_profile_id"}
    assert fl["description"] == "" and fl["enabled"] is True
    assert fl["flavor_profile_id"] == profile
    assert api.get(f"/v2/lbaas/flavors/{fl['id']}").json()["flavor"] == fl


@pytest.mark.parametrize("missing", ["name", "flavor_profile_id"])
def test_flavor_fields_are_mandatory(api, profile, missing):
    body = {"name": "f", "flavor_profile_id": profile}
    del body[missing]
    r = api.post("/v2/lbaas/flavors", json={"flavor": body})
    assert "Mandatory field missing" in fault(r, 400)


def test_flavor_on_an_unknown_profile_is_an_invalid_option(api):
    r = new_flavor(api, UNKNOWN)
    assert fault(r, 400) == f"{UNKNOWN} is not a valid option for flavor_profile_id"
    r = new_flavor(api, "not-a-uuid")
    assert "Value should be UUID format" in fault(r, 400)


def test_flavor_names_are_unique(api, profile, flavor):
    assert fault(new_flavor(api, profile), 409) == "A flavor of small already exists."
    other = new_flavor(api, profile, name="large").json()["flavor"]["id"]
    r = api.put(f"/v2/lbaas/flavors/{other}", json={"flavor": {"name": "small"}})
    assert fault(r, 409) == "A flavor of small already exists."
    r = api.put(f"/v2/lbaas/flavors/{other}", json={"flavor": {"name": "large"}})
    assert r.status_code == 200  # its own name is no conflict


def test_flavor_update_changes_name_description_enabled_only(api, flavor, profile):
    r = api.put(f"/v2/lbaas/flavors/{flavor}", json={"flavor": {
        "name": "tiny", "description": "d", "enabled": False}})
    assert r.status_code == 200, r.text
    assert r.json()["flavor"] == {"id": flavor, "name": "tiny", "description": "d",
                                  "enabled": False, "flavor_profile_id": profile}
    r = api.put(f"/v2/lbaas/flavors/{flavor}", json={"flavor": {"flavor_profile_id": UNKNOWN}})
    assert fault(r, 400) == "Unknown attribute for argument flavor_.flavor: flavor_profile_id"
    r = api.put(f"/v2/lbaas/flavors/{flavor}", json={"flavor": {"name": None}})
    assert fault(r, 400) == "None is not a valid option for name"


def test_flavor_unknown_and_nil_ids_are_404(api, flavor):
    for fl in (UNKNOWN, NIL):
        assert fault(api.get(f"/v2/lbaas/flavors/{fl}"), 404) == f"Flavor {fl} not found."
        assert api.delete(f"/v2/lbaas/flavors/{fl}").status_code == 404
    assert [f["id"] for f in api.get("/v2/lbaas/flavors").json()["flavors"]] == [flavor]


def test_flavor_list_filters_sorts_pages_and_selects_fields(api, profile):
    ids = {}
    for name, enabled in (("b", True), ("a", False), ("c", True)):
        ids[name] = new_flavor(api, profile, name=name, enabled=enabled).json()["flavor"]["id"]
    doc = api.get("/v2/lbaas/flavors?sort=name:desc").json()
    assert [f["name"] for f in doc["flavors"]] == ["c", "b", "a"]
    assert set(doc) == {"flavors", "flavors_links"}
    doc = api.get("/v2/lbaas/flavors?enabled=false").json()
    assert [f["name"] for f in doc["flavors"]] == ["a"]
    doc = api.get("/v2/lbaas/flavors?sort=name&limit=2").json()
    assert [f["name"] for f in doc["flavors"]] == ["a", "b"]
    [nxt] = [link for link in doc["flavors_links"] if link["rel"] == "next"]
    assert f"marker={ids['b']}" in nxt["href"]
    doc = api.get(f"/v2/lbaas/flavors?sort=name&limit=2&marker={ids['b']}").json()
    assert [f["name"] for f in doc["flavors"]] == ["c"]
    doc = api.get("/v2/lbaas/flavors?fields=id&fields=name&name=c").json()
    assert doc["flavors"] == [{"id": ids["c"], "name": "c"}]
    assert "One or more arguments" in fault(api.get("/v2/lbaas/flavors?bogus=1"), 400)


# --- who may do what ---

def test_a_project_member_may_list_and_show_flavors_but_not_change_them(api, flavor, profile):
    assert api.get("/v2/lbaas/flavors", headers=MEMBER).status_code == 200
    assert api.get(f"/v2/lbaas/flavors/{flavor}", headers=MEMBER).status_code == 200
    denied = "Policy does not allow this request to be performed."
    r = api.post("/v2/lbaas/flavors", headers=MEMBER, json={"flavor": {
        "name": "mine", "flavor_profile_id": profile}})
    assert fault(r, 403) == denied
    r = api.put(f"/v2/lbaas/flavors/{flavor}", headers=MEMBER, json={"flavor": {"name": "x"}})
    assert fault(r, 403) == denied
    assert fault(api.delete(f"/v2/lbaas/flavors/{flavor}", headers=MEMBER), 403) == denied


def test_flavor_profiles_are_for_admins_only(api, profile):
    for r in (api.get("/v2/lbaas/flavorprofiles", headers=MEMBER),
              api.get(f"/v2/lbaas/flavorprofiles/{profile}", headers=MEMBER),
              api.delete(f"/v2/lbaas/flavorprofiles/{profile}", headers=MEMBER),
              api.post("/v2/lbaas/flavorprofiles", headers=MEMBER, json={"flavorprofile": {
                  "name": "p", "provider_name": "amphora", "flavor_data": "{}"}})):
        assert fault(r, 403) == "Policy does not allow this request to be performed."
    assert api.get(f"/v2/lbaas/flavorprofiles/{profile}").status_code == 200


# --- load balancers with a flavor ---

def test_lb_created_with_a_flavor_stores_and_shows_it(api, subnet_id, flavor):
    r = new_lb(api, subnet_id, flavor_id=flavor)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["flavor_id"] == flavor and lb["provider"] == "amphora"
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"][
        "flavor_id"] == flavor
    listed = api.get(f"/v2/lbaas/loadbalancers?flavor_id={flavor}").json()["loadbalancers"]
    assert [x["id"] for x in listed] == [lb["id"]]
    with dbs.transaction() as s:
        assert s.get(LoadBalancer, lb["id"]).topology == "SINGLE"


def test_a_member_may_create_a_load_balancer_with_a_flavor(api, subnet_id, flavor):
    r = new_lb(api, subnet_id, headers=MEMBER, flavor_id=flavor)
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["flavor_id"] == flavor


def test_lb_with_an_unknown_flavor_is_refused(api, subnet_id):
    for fl in (UNKNOWN, NIL):
        assert fault(new_lb(api, subnet_id, flavor_id=fl), 400) == (
            "Validation failure: Invalid flavor_id.")


def test_lb_with_a_disabled_flavor_is_refused(api, subnet_id, flavor):
    api.put(f"/v2/lbaas/flavors/{flavor}", json={"flavor": {"enabled": False}})
    assert fault(new_lb(api, subnet_id, flavor_id=flavor), 400) == (
        f"The selected flavor is not allowed in this deployment: {flavor}")
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_lb_provider_must_match_the_flavors(api, subnet_id, flavor):
    CONF.set_override("enabled_provider_drivers", ["amphora", "octavia", "other"],
                      group="api_settings")
    try:
        r = new_lb(api, subnet_id, flavor_id=flavor, provider="other")
    finally:
        CONF.clear_override("enabled_provider_drivers", group="api_settings")
    assert r.status_code == 400, r.text
    assert r.json()["faultstring"] == (
        f"Flavor '{flavor}' is not compatible with provider 'other'")
    assert new_lb(api, subnet_id, flavor_id=flavor, provider="amphora").status_code == 201


def test_flavor_in_use_cannot_be_deleted_until_its_load_balancers_are(api, subnet_id, flavor):
    lb = new_lb(api, subnet_id, flavor_id=flavor).json()["loadbalancer"]["id"]
    assert fault(api.delete(f"/v2/lbaas/flavors/{flavor}"), 409) == (
        f"Flavor {flavor} is in use and cannot be modified.")
    settle(lb)
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb}").status_code == 204
    assert api.delete(f"/v2/lbaas/flavors/{flavor}").status_code == 409  # PENDING_DELETE
    with dbs.transaction() as s:
        s.get(LoadBalancer, lb).provisioning_status = "DELETED"
    assert api.delete(f"/v2/lbaas/flavors/{flavor}").status_code == 204

"""Availability zone profiles and availability zones (API v2.14): fields, defaults, provider
validation, in-use rules, list features, who may do what, and load balancers in a zone."""

from __future__ import annotations

import pytest

from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from tests.api.conftest import MEMBER, NIL, UNKNOWN, ProfiledAPI, created, fault, new_lb, settle

DENIED = "Policy does not allow this request to be performed."

ZONES = ProfiledAPI(
    profiles="/v2/lbaas/availabilityzoneprofiles", profile_key="availability_zone_profile",
    data_field="availability_zone_data", profile_name="azp",
    choices="/v2/lbaas/availabilityzones", choice_key="availability_zone",
    profile_field="availability_zone_profile_id", choice_name="az1")
new_profile, new_zone = ZONES.new_profile, ZONES.new_choice


@pytest.fixture
def profile(api):
    return created(new_profile(api, {"management_cidr": "127.3.0.0/24"}),
                   "availability_zone_profile")


@pytest.fixture
def zone(api, profile):
    return created(new_zone(api, profile), "availability_zone", "name")


# --- availability zone profiles ---

def test_profile_create_shows_exactly_octavias_keys(api):
    data = '{"management_cidr": "127.9.0.0/16"}'
    r = new_profile(api, data)
    assert r.status_code == 201, r.text
    azp = r.json()["availability_zone_profile"]
    assert set(azp) == {"id", "name", "provider_name", "availability_zone_data"}
    assert azp["availability_zone_data"] == data
    url = f"/v2/lbaas/availabilityzoneprofiles/{azp['id']}"
    assert api.get(url).json()["availability_zone_profile"] == azp
    doc = api.get("/v2.0/lbaas/availabilityzoneprofiles").json()
    assert set(doc) == {"availability_zone_profiles", "availability_zone_profile_links"}
    assert doc["availability_zone_profiles"] == [azp]


@pytest.mark.parametrize("missing", ["name", "provider_name", "availability_zone_data"])
def test_profile_fields_are_mandatory(api, missing):
    body = {"name": "p", "provider_name": "amphora", "availability_zone_data": "{}"}
    del body[missing]
    r = api.post("/v2/lbaas/availabilityzoneprofiles",
                 json={"availability_zone_profile": body})
    assert "Mandatory field missing" in fault(r, 400)


def test_profile_data_that_is_not_json_is_an_invalid_option(api):
    assert fault(new_profile(api, "[1,"), 400) == (
        "[1, is not a valid option for availability_zone_data")


def test_profile_of_a_provider_not_enabled_is_refused(api):
    assert fault(new_profile(api, {}, provider="nope"), 400) == "Provider 'nope' is not enabled."


@pytest.mark.parametrize("data, why", [
    ({"compute_zone": "nova"}, "'compute_zone' is not a availability zone capability"),
    ({"management_cidr": "10.0.0.0/24"}, "must lie inside 127.0.0.0/8"),
    ({"management_cidr": "127.3.0.0/30"}, "at least 6 addresses"),
    ({"management_cidr": "127.3.0.1/24"}, "must be an IPv4 CIDR"),
    ({"management_cidr": "nonsense"}, "must be an IPv4 CIDR"),
    ({"management_cidr": 5}, "must be an IPv4 CIDR"),
    ({"valid_vip_networks": "net"}, "must be a list of network IDs"),
    ({"valid_vip_networks": ["not-an-id"]}, '"not-an-id" is not a network ID'),
    ("7", "availability zone must be a JSON object"),
])
def test_profile_data_the_provider_cannot_honour_is_501(api, data, why):
    msg = fault(new_profile(api, data), 501)
    assert msg.startswith("Provider 'amphora' does not support a requested option: ")
    assert why in msg


def test_every_published_capability_is_accepted(api):
    caps = api.get("/v2/lbaas/providers/amphora/availability_zone_capabilities").json()
    assert {c["name"] for c in caps["availability_zone_capabilities"]} == {
        "valid_vip_networks", "management_cidr"}
    data = {"valid_vip_networks": [UNKNOWN], "management_cidr": "127.4.0.0/16"}
    assert new_profile(api, data).status_code == 201


def test_profile_update_and_null_rules(api, profile):
    url = f"/v2/lbaas/availabilityzoneprofiles/{profile}"
    r = api.put(url, json={"availability_zone_profile": {
        "name": "n2", "availability_zone_data": '{"valid_vip_networks": []}'}})
    assert r.status_code == 200, r.text
    assert r.json()["availability_zone_profile"]["name"] == "n2"
    r = api.put(url, json={"availability_zone_profile": {
        "availability_zone_data": '{"management_cidr": "8.8.8.0/24"}'}})
    assert "127.0.0.0/8" in fault(r, 501)
    for field in ("name", "provider_name", "availability_zone_data"):
        r = api.put(url, json={"availability_zone_profile": {field: None}})
        assert fault(r, 400) == f"None is not a valid option for {field}"


def test_profile_in_use_keeps_provider_and_data(api, profile, zone):
    url = f"/v2/lbaas/availabilityzoneprofiles/{profile}"
    in_use = f"Availability Zone Profile {profile} is in use and cannot be modified."
    for change in ({"availability_zone_data": "{}"}, {"provider_name": "amphora"}):
        assert fault(api.put(url, json={"availability_zone_profile": change}), 409) == in_use
    assert api.put(url, json={"availability_zone_profile": {"name": "x"}}).status_code == 200
    assert fault(api.delete(url), 409) == in_use
    assert api.delete(f"/v2/lbaas/availabilityzones/{zone}").status_code == 204
    assert api.delete(url).status_code == 204
    assert fault(api.get(url), 404) == f"Availability Zone Profile {profile} not found."


def test_profile_unknown_and_nil_ids_are_404(api):
    for azp in (UNKNOWN, NIL):
        url = f"/v2/lbaas/availabilityzoneprofiles/{azp}"
        assert fault(api.get(url), 404) == f"Availability Zone Profile {azp} not found."
        assert api.delete(url).status_code == 404


# --- availability zones ---

def test_zone_create_defaults_and_keys(api, profile):
    r = new_zone(api, profile)
    assert r.status_code == 201, r.text
    az = r.json()["availability_zone"]
    assert az == {"name": "az1", "description": "", "enabled": True,
                  "availability_zone_profile_id": profile}
    assert api.get("/v2/lbaas/availabilityzones/az1").json()["availability_zone"] == az


def test_zone_names_are_unique(api, profile, zone):
    assert fault(new_zone(api, profile), 409) == "A availability zone of az1 already exists."


def test_zone_on_an_unknown_profile_is_an_invalid_option(api):
    assert fault(new_zone(api, UNKNOWN), 400) == (
        f"{UNKNOWN} is not a valid option for availability_zone_profile_id")


@pytest.mark.parametrize("missing", ["name", "availability_zone_profile_id"])
def test_zone_fields_are_mandatory(api, profile, missing):
    body = {"name": "z", "availability_zone_profile_id": profile}
    del body[missing]
    r = api.post("/v2/lbaas/availabilityzones", json={"availability_zone": body})
    assert "Mandatory field missing" in fault(r, 400)


def test_zone_update_changes_description_and_enabled_only(api, zone, profile):
    url = f"/v2/lbaas/availabilityzones/{zone}"
    r = api.put(url, json={"availability_zone": {"description": "d", "enabled": False}})
    assert r.status_code == 200, r.text
    assert r.json()["availability_zone"] == {"name": zone, "description": "d",
                                             "enabled": False,
                                             "availability_zone_profile_id": profile}
    for field, value in (("name", "other"), ("availability_zone_profile_id", UNKNOWN)):
        r = api.put(url, json={"availability_zone": {field: value}})
        assert fault(r, 400) == (
            f"Unknown attribute for argument availability_zone_.availability_zone: {field}")
    assert fault(api.put(url, json={"availability_zone": {"enabled": None}}), 400) == (
        "None is not a valid option for enabled")


def test_unknown_zone_is_404(api):
    assert fault(api.get("/v2/lbaas/availabilityzones/nowhere"), 404) == (
        "Availability Zone nowhere not found.")
    assert api.delete("/v2/lbaas/availabilityzones/nowhere").status_code == 404


def test_zone_list_filters_sorts_pages_by_name_and_selects_fields(api, profile):
    for name in ("b", "c", "a"):
        new_zone(api, profile, name=name, enabled=name != "c")
    doc = api.get("/v2/lbaas/availabilityzones").json()
    assert set(doc) == {"availability_zones", "availability_zones_links"}
    assert [z["name"] for z in doc["availability_zones"]] == ["a", "b", "c"]
    doc = api.get("/v2/lbaas/availabilityzones?sort=name:desc&enabled=true").json()
    assert [z["name"] for z in doc["availability_zones"]] == ["b", "a"]
    doc = api.get("/v2/lbaas/availabilityzones?limit=2").json()
    assert [z["name"] for z in doc["availability_zones"]] == ["a", "b"]
    [nxt] = [link for link in doc["availability_zones_links"] if link["rel"] == "next"]
    assert "marker=b" in nxt["href"]
    doc = api.get("/v2/lbaas/availabilityzones?limit=2&marker=b").json()
    assert [z["name"] for z in doc["availability_zones"]] == ["c"]
    doc = api.get("/v2/lbaas/availabilityzones?fields=name&name=a").json()
    assert doc["availability_zones"] == [{"name": "a"}]


# --- who may do what ---

def test_a_project_member_may_list_and_show_zones_but_not_change_them(api, zone, profile):
    assert api.get("/v2/lbaas/availabilityzones", headers=MEMBER).status_code == 200
    assert api.get(f"/v2/lbaas/availabilityzones/{zone}", headers=MEMBER).status_code == 200
    r = api.post(
        "/v2/lbaas/availabilityzones", headers=MEMBER, json={"availability_zone": {
            "name": "mine", "availability_zone_profile_id": profile}})
    assert fault(r, 403) == DENIED
    r = api.put(f"/v2/lbaas/availabilityzones/{zone}", headers=MEMBER,
                json={"availability_zone": {"description": "x"}})
    assert fault(r, 403) == DENIED
    assert fault(api.delete(f"/v2/lbaas/availabilityzones/{zone}", headers=MEMBER),
                 403) == DENIED


def test_zone_profiles_are_for_admins_only(api, profile):
    for r in (api.get("/v2/lbaas/availabilityzoneprofiles", headers=MEMBER),
              api.get(f"/v2/lbaas/availabilityzoneprofiles/{profile}", headers=MEMBER),
              api.delete(f"/v2/lbaas/availabilityzoneprofiles/{profile}", headers=MEMBER)):
        assert fault(r, 403) == DENIED


# --- load balancers in a zone ---

def test_lb_created_in_a_zone_stores_and_shows_it(api, subnet_id, zone):
    r = new_lb(api, subnet_id, availability_zone=zone)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["availability_zone"] == zone
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["availability_zone"] == zone
    listed = api.get(f"/v2/lbaas/loadbalancers?availability_zone={zone}").json()
    assert [x["id"] for x in listed["loadbalancers"]] == [lb["id"]]


def test_lb_in_an_unknown_zone_is_refused(api, subnet_id):
    assert fault(new_lb(api, subnet_id, availability_zone="nowhere"), 400) == (
        "Validation failure: Invalid availability zone.")


def test_lb_in_a_disabled_zone_is_refused(api, subnet_id, zone):
    api.put(f"/v2/lbaas/availabilityzones/{zone}", json={"availability_zone": {
        "enabled": False}})
    assert fault(new_lb(api, subnet_id, availability_zone=zone), 400) == (
        f"The selected availability_zone is not allowed in this deployment: {zone}")


def test_valid_vip_networks_of_the_zone_decide_where_vips_may_be(api, subnet_id):
    network_id = api.get(f"/network/v2.0/subnets/{subnet_id}").json()["subnet"]["network_id"]
    elsewhere = new_profile(api, {"valid_vip_networks": [UNKNOWN]}).json()
    here = new_profile(api, {"valid_vip_networks": [UNKNOWN, network_id]}).json()
    new_zone(api, elsewhere["availability_zone_profile"]["id"], name="elsewhere")
    new_zone(api, here["availability_zone_profile"]["id"], name="here")
    r = new_lb(api, subnet_id, availability_zone="elsewhere", vip_address="127.1.9.9")
    assert fault(r, 400) == ("Validation failure: Supplied VIP network_id is not allowed by "
                             "the configuration of this deployment.")
    # nothing was kept of the refused create: the address is still free
    r = new_lb(api, subnet_id, availability_zone="here", vip_address="127.1.9.9")
    assert r.status_code == 201, r.text


def test_zone_in_use_cannot_be_deleted_until_its_load_balancers_are(api, subnet_id, zone):
    lb = new_lb(api, subnet_id, availability_zone=zone).json()["loadbalancer"]["id"]
    assert fault(api.delete(f"/v2/lbaas/availabilityzones/{zone}"), 409) == (
        f"Availability Zone {zone} is in use and cannot be modified.")
    settle(lb)
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb}").status_code == 204
    with dbs.transaction() as s:
        s.get(LoadBalancer, lb).provisioning_status = "DELETED"
    assert api.delete(f"/v2/lbaas/availabilityzones/{zone}").status_code == 204

"""Tenant isolation of the built-in network service (/network, octolb/api/routes/network.py)
and of VIP allocation (octolb/network/local.py resolve_vip), as Neutron and Octavia behave:
a project sees its own networks, subnets and ports plus shared networks and their subnets;
only the owner (a member) or an admin creates and deletes; a load balancer's VIP port,
network or subnet must be its project's own or shared. Subnets stay inside 127.0.0.0/8 and
never overlap, so a VIP address is unique on the host. Also: GET /metrics is admin-only."""

from __future__ import annotations

import pytest

from tests.api.conftest import settle

A = {"X-Project-Id": "p1", "X-Roles": "member,reader"}
B = {"X-Project-Id": "p2", "X-Roles": "member,reader"}
B_READER = {"X-Project-Id": "p2", "X-Roles": "reader"}
ADMIN = {"X-Project-Id": "adminproj", "X-Roles": "admin,member,reader"}
LB = "/v2/lbaas/loadbalancers"
NET = "/network/v2.0"


def _private_net(api, headers=A) -> str:
    return api.get(f"{NET}/networks?name=private", headers=headers).json()["networks"][0]["id"]


def _a_port(api) -> str:
    r = api.post(f"{NET}/ports", headers=A,
                 json={"port": {"network_id": _private_net(api), "name": "p1-port"}})
    assert r.status_code == 201, r.text
    assert r.json()["port"]["project_id"] == "p1"
    return r.json()["port"]["id"]


def _own_network(api, headers, cidr: str, name: str = "own") -> tuple[str, str]:
    net = api.post(f"{NET}/networks", headers=headers, json={"network": {"name": name}})
    assert net.status_code == 201, net.text
    net_id = net.json()["network"]["id"]
    sub = api.post(f"{NET}/subnets", headers=headers, json={"subnet": {
        "network_id": net_id, "cidr": cidr, "name": f"{name}-subnet"}})
    assert sub.status_code == 201, sub.text
    return net_id, sub.json()["subnet"]["id"]


def _ids(api, kind: str, headers) -> set[str]:
    r = api.get(f"{NET}/{kind}", headers=headers)
    assert r.status_code == 200, r.text
    return {o["id"] for o in r.json()[kind]}


def _error(r, status: int, kind: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["NeutronError"]["type"] == kind, r.text
    return r.json()["NeutronError"]["message"]


# --- visibility -----------------------------------------------------------------------------

def test_other_project_cannot_list_or_show_a_port(api):
    port = _a_port(api)
    assert port not in _ids(api, "ports", B)
    _error(api.get(f"{NET}/ports/{port}", headers=B), 404, "PortNotFound")
    assert port in _ids(api, "ports", A)
    assert port in _ids(api, "ports", ADMIN)


def test_every_project_sees_the_shared_seed_and_uses_it(api, subnet_id):
    for headers in (A, B, B_READER):
        r = api.get(f"{NET}/subnets?name=private-subnet", headers=headers)
        assert [s["id"] for s in r.json()["subnets"]] == [subnet_id]
        assert api.get(f"{NET}/subnets/{subnet_id}", headers=headers).status_code == 200
        net = api.get(f"{NET}/networks?name=private", headers=headers).json()["networks"]
        assert net[0]["shared"] is True
    for headers in (A, B):
        r = api.post(LB, headers=headers, json={"loadbalancer": {"vip_subnet_id": subnet_id}})
        assert r.status_code == 201, r.text


def test_a_private_network_is_invisible_and_unusable_to_others(api):
    net, sub = _own_network(api, A, "127.30.0.0/24")
    assert net in _ids(api, "networks", A) and sub in _ids(api, "subnets", A)
    assert net not in _ids(api, "networks", B) and sub not in _ids(api, "subnets", B)
    assert net in _ids(api, "networks", ADMIN)
    _error(api.get(f"{NET}/networks/{net}", headers=B), 404, "NetworkNotFound")
    _error(api.get(f"{NET}/subnets/{sub}", headers=B), 404, "SubnetNotFound")
    _error(api.post(f"{NET}/subnets", headers=B, json={"subnet": {
        "network_id": net, "cidr": "127.31.0.0/24"}}), 404, "NetworkNotFound")
    _error(api.post(f"{NET}/ports", headers=B, json={"port": {"network_id": net}}),
           404, "NetworkNotFound")
    # Octavia's answer when Neutron does not find the id for the caller
    r = api.post(LB, headers=B, json={"loadbalancer": {"vip_network_id": net}})
    assert (r.status_code, r.json()["faultstring"]) == (400, f"Network {net} not found.")
    r = api.post(LB, headers=B, json={"loadbalancer": {"vip_subnet_id": sub}})
    assert (r.status_code, r.json()["faultstring"]) == (400, f"Subnet {sub} not found.")
    r = api.post(LB, headers=A, json={"loadbalancer": {"vip_subnet_id": sub}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["vip_address"].startswith("127.30.0.")


# --- writes ---------------------------------------------------------------------------------

def test_other_project_cannot_delete_a_port(api):
    port = _a_port(api)
    _error(api.delete(f"{NET}/ports/{port}", headers=B), 404, "PortNotFound")
    assert api.get(f"{NET}/ports/{port}", headers=A).status_code == 200


def test_a_reader_cannot_delete_its_own_port(api):
    port = _a_port(api)
    reader = {"X-Project-Id": "p1", "X-Roles": "reader"}
    assert "disallowed by policy" in _error(
        api.delete(f"{NET}/ports/{port}", headers=reader), 403, "PolicyNotAuthorized")
    assert api.delete(f"{NET}/ports/{port}", headers=A).status_code == 204


def test_other_project_cannot_delete_shared_seed_subnet(api, subnet_id):
    """Before any LB exists, neither a reader nor a member of a project may delete the
    shared private-subnet every project's LBs are created on; an admin may."""
    for headers in (B_READER, B):
        _error(api.delete(f"{NET}/subnets/{subnet_id}", headers=headers),
               403, "PolicyNotAuthorized")
        _error(api.delete(f"{NET}/networks/{_private_net(api)}", headers=headers),
               403, "PolicyNotAuthorized")
        _error(api.post(f"{NET}/subnets", headers=headers, json={"subnet": {
            "network_id": _private_net(api), "cidr": "127.30.0.0/24"}}),
            403, "PolicyNotAuthorized")
    assert api.delete(f"{NET}/subnets/{subnet_id}", headers=ADMIN).status_code == 204


def test_a_reader_cannot_create(api):
    _error(api.post(f"{NET}/networks", headers=B_READER, json={"network": {"name": "n"}}),
           403, "PolicyNotAuthorized")
    _error(api.post(f"{NET}/ports", headers=B_READER, json={"port": {
        "network_id": _private_net(api, B_READER)}}), 403, "PolicyNotAuthorized")


@pytest.mark.parametrize("key", ["project_id", "tenant_id"])
def test_a_body_project_of_another_project_is_refused_to_a_non_admin(api, key):
    _error(api.post(f"{NET}/networks", headers=B, json={"network": {"name": "n", key: "p1"}}),
           403, "PolicyNotAuthorized")
    _error(api.post(f"{NET}/ports", headers=B, json={"port": {
        "network_id": _private_net(api), key: "p1"}}), 403, "PolicyNotAuthorized")
    assert _ids(api, "networks", A) == {_private_net(api)}
    # its own project may be named; an admin may name any
    r = api.post(f"{NET}/networks", headers=B, json={"network": {"name": "n", key: "p2"}})
    assert r.status_code == 201 and r.json()["network"]["project_id"] == "p2"
    r = api.post(f"{NET}/ports", headers=ADMIN, json={"port": {
        "network_id": _private_net(api), key: "p1"}})
    assert r.status_code == 201 and r.json()["port"]["project_id"] == "p1"
    assert r.json()["port"]["id"] in _ids(api, "ports", A)


def test_only_an_admin_shares_a_network(api):
    _error(api.post(f"{NET}/networks", headers=B, json={"network": {
        "name": "n", "shared": True}}), 403, "PolicyNotAuthorized")
    _error(api.post(f"{NET}/networks", headers=B, json={"network": {
        "name": "n", "shared": "yes"}}), 400, "HTTPBadRequest")
    r = api.post(f"{NET}/networks", headers=ADMIN, json={"network": {
        "name": "n", "shared": True}})
    assert r.status_code == 201, r.text
    assert r.json()["network"]["id"] in _ids(api, "networks", B)


# --- VIPs -----------------------------------------------------------------------------------

def test_other_project_cannot_take_a_port_as_its_vip(api):
    port = _a_port(api)
    r = api.post(LB, headers=B, json={"loadbalancer": {"name": "steal", "vip_port_id": port}})
    assert (r.status_code, r.json()["faultstring"]) == (400, f"Port {port} not found.")
    assert api.get(f"{NET}/ports/{port}", headers=A).json()["port"]["device_id"] == ""
    r = api.post(LB, headers=A, json={"loadbalancer": {"name": "own", "vip_port_id": port}})
    assert r.status_code == 201, r.text


def test_other_project_cannot_take_the_same_vip_address(api, subnet_id):
    """p2 cannot get p1's VIP address: not on the shared subnet (the address is taken),
    and not on a subnet of its own (subnets may not overlap). Two HAProxies on one address
    would share its connections (SO_REUSEPORT): p2 would receive p1's traffic."""
    r = api.post(LB, headers=A, json={"loadbalancer": {"name": "a", "vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    a_vip = r.json()["loadbalancer"]["vip_address"]
    settle(r.json()["loadbalancer"]["id"])

    r = api.post(LB, headers=B, json={"loadbalancer": {
        "name": "b", "vip_subnet_id": subnet_id, "vip_address": a_vip}})
    assert r.status_code == 409, r.text

    net = api.post(f"{NET}/networks", headers=B, json={"network": {"name": "evil"}})
    assert net.status_code == 201, net.text
    net_id = net.json()["network"]["id"]
    for cidr in ("127.1.0.0/16", "127.1.0.0/24", f"{a_vip}/32", "127.0.0.0/8"):
        assert "overlaps" in _error(api.post(f"{NET}/subnets", headers=B, json={"subnet": {
            "network_id": net_id, "cidr": cidr}}), 400, "HTTPBadRequest"), cidr
    sub = api.post(f"{NET}/subnets", headers=B, json={"subnet": {
        "network_id": net_id, "cidr": "127.31.0.0/24"}})
    assert sub.status_code == 201, sub.text
    r = api.post(LB, headers=B, json={"loadbalancer": {
        "name": "b", "vip_subnet_id": sub.json()["subnet"]["id"], "vip_address": a_vip}})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(("cidr", "reason"), [
    ("0.0.0.0/0", "not inside 127.0.0.0/8"),
    ("10.0.0.0/24", "not inside 127.0.0.0/8"),
    ("::1/128", "not inside 127.0.0.0/8"),
    ("127.0.0.0/24", "host's own loopback"),
    ("127.2.5.0/24", "management range"),
    ("127.3.0.128/25", "availability zone's management range"),
])
def test_a_subnet_must_be_free_loopback(api, cidr, reason):
    r = api.post("/v2/lbaas/availabilityzoneprofiles", headers=ADMIN, json={
        "availability_zone_profile": {"name": "z", "provider_name": "amphora",
                                      "availability_zone_data":
                                          '{"management_cidr": "127.3.0.0/24"}'}})
    assert r.status_code == 201, r.text
    net = api.post(f"{NET}/networks", headers=ADMIN, json={"network": {"name": "n"}})
    message = _error(api.post(f"{NET}/subnets", headers=ADMIN, json={"subnet": {
        "network_id": net.json()["network"]["id"], "cidr": cidr}}), 400, "HTTPBadRequest")
    assert reason in message, message
    assert message.startswith("Invalid input for cidr.")


# --- policy ---------------------------------------------------------------------------------

def test_network_and_metrics_rules_are_registered():
    from octolb.api import policy

    names = {r.name for r in policy.list_rules()}
    for kind in ("network", "subnet", "port"):
        assert {f"network:get_{kind}", f"network:create_{kind}",
                f"network:delete_{kind}"} <= names
    assert {"network:create_network:shared", "metrics:get"} <= names


def test_metrics_do_not_reveal_other_projects_to_a_reader(api, subnet_id):
    """GET /metrics gives cloud-wide counts: admins and global observers only."""
    r = api.post(LB, headers=A, json={"loadbalancer": {"name": "a", "vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    for headers in ({"X-Project-Id": "p2", "X-Roles": "reader"}, A):
        r = api.get("/metrics", headers=headers)
        assert r.status_code == 403 and "octolb_load_balancers{" not in r.text, r.text[:300]
    r = api.get("/metrics", headers=ADMIN)
    assert r.status_code == 200 and "octolb_load_balancers{" in r.text

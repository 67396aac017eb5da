"""`[api_settings] auth_strategy = keystone` against a real Keystone (tests/integration/
keystone.py): keystonemiddleware's auth_token in front of a real `octolb up`, the stock CLI
logging in with passwords, the token's roles and project deciding what each caller may do.

Users (made by the fixture): member-a and reader-a in project tenant-a, member-b in tenant-b,
admin (admin role in project admin). The amphorae are no-op ones: this is about who may do
what, not about the data plane."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
import yaml

from tests.harness import BIN, Octolb
from tests.integration.keystone import Keystone, missing

_WHY = missing()
pytestmark = pytest.mark.skipif(
    _WHY is not None, reason=f"!!! KEYSTONE MODE NOT TESTED: {_WHY} !!!")

NOOP = "[controller_worker]\ncompute_driver = noop\namphora_driver = noop\n"


@pytest.fixture(scope="module")
def keystone(tmp_path_factory):
    ks = Keystone(tmp_path_factory.mktemp("keystone"))
    ks.start()
    yield ks
    ks.stop()


@pytest.fixture(scope="module")
def octolb(keystone, tmp_path_factory):
    o = Octolb(tmp_path_factory.mktemp("octolb-ks") / "state",
               extra_conf="[api_settings]\nauth_strategy = keystone\n" + NOOP
               + keystone.authtoken_conf())
    o.start()
    clouds = {}
    for name, user in keystone.users.items():
        clouds[name] = {
            "auth_type": "password",
            "auth": {"auth_url": keystone.auth_url, "username": user.name,
                     "password": user.password, "project_name": user.project_name,
                     "user_domain_id": "default", "project_domain_id": "default"},
            "identity_api_version": 3, "region_name": "RegionOne",
            "load_balancer_endpoint_override": f"{o.url}/",
            "network_endpoint_override": f"{o.url}/network/"}
    o.clouds = o.state_dir / "clouds-keystone.yaml"
    o.clouds.write_text(yaml.safe_dump({"clouds": clouds}))
    yield o
    o.close()


def cli(o: Octolb, cloud: str, *args: str, check: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(o.clouds)
    r = subprocess.run([str(BIN / "openstack"), "--os-cloud", cloud, *args, "-f", "json"],
                       env=env, capture_output=True, text=True, timeout=180)
    if not check:
        return r
    assert r.returncode == 0, f"{cloud}: {' '.join(args)} failed:\n{r.stderr}"
    return json.loads(r.stdout)


def token(keystone: Keystone, name: str) -> dict[str, str]:
    return {"X-Auth-Token": keystone.project_token(keystone.users[name])}


def test_version_document_is_open_and_the_api_wants_a_valid_token(octolb, keystone):
    assert httpx.get(f"{octolb.url}/", timeout=10).status_code == 200
    for headers in ({}, {"X-Auth-Token": "not-a-token"},
                    # what noauth would trust: worthless without a token here
                    {"X-Project-Id": keystone.users["member-a"].project_id,
                     "X-Roles": "admin"}):
        r = octolb.api("GET", "/v2/lbaas/loadbalancers", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == f'Keystone uri="{keystone.auth_url}"'
    r = octolb.api("GET", "/v2/lbaas/loadbalancers", headers=token(keystone, "member-a"))
    assert r.status_code == 200, r.text


def test_roles_and_projects_of_the_token_decide(octolb, keystone):
    a = keystone.users["member-a"].project_id
    lb = cli(octolb, "member-a", "loadbalancer", "create", "--name", "ks-a",
             "--vip-subnet-id", "private-subnet", "--wait")
    assert lb["project_id"] == a
    assert lb["provisioning_status"] == "ACTIVE"

    for user in ("member-a", "reader-a"):  # the reader of the same project sees it too
        listed = cli(octolb, user, "loadbalancer", "list")
        assert lb["id"] in [x["id"] for x in listed]
        assert {x["project_id"] for x in listed} == {a}
    assert cli(octolb, "reader-a", "loadbalancer", "show", lb["id"])["name"] == "ks-a"
    r = cli(octolb, "reader-a", "loadbalancer", "create", "--name", "no",
            "--vip-subnet-id", "private-subnet", check=False)
    assert r.returncode != 0
    assert "403" in r.stderr or "Policy does not allow" in r.stderr, r.stderr
    r = octolb.api("POST", "/v2/lbaas/loadbalancers", headers=token(keystone, "reader-a"),
                   json={"loadbalancer": {"name": "no", "vip_subnet_id": octolb_subnet(
                       octolb, keystone)}})
    assert r.status_code == 403, r.text

    # another project's member neither lists nor reads it
    assert a not in {x["project_id"] for x in cli(octolb, "member-b", "loadbalancer", "list")}
    r = octolb.api("GET", f"/v2/lbaas/loadbalancers/{lb['id']}",
                   headers=token(keystone, "member-b"))
    assert r.status_code == 403, r.text
    b_lb = cli(octolb, "member-b", "loadbalancer", "create", "--name", "ks-b",
               "--vip-subnet-id", "private-subnet")
    assert b_lb["project_id"] == keystone.users["member-b"].project_id

    # the admin sees every project's
    seen = {x["id"]: x["project_id"] for x in cli(octolb, "admin", "loadbalancer", "list")}
    assert seen[lb["id"]] == a and seen[b_lb["id"]] == b_lb["project_id"]


def octolb_subnet(o: Octolb, keystone: Keystone) -> str:
    r = o.api("GET", "/network/v2.0/subnets?name=private-subnet",
              headers=token(keystone, "admin"))
    assert r.status_code == 200, r.text
    return r.json()["subnets"][0]["id"]


def test_the_project_comes_from_the_token_not_from_headers(octolb, keystone):
    a = keystone.users["member-a"].project_id
    b = keystone.users["member-b"].project_id
    forged = {**token(keystone, "member-b"), "X-Project-Id": a, "X-Roles": "admin,member",
              "X-User-Id": keystone.users["member-a"].id, "X-Identity-Status": "Confirmed"}
    r = octolb.api("POST", "/v2/lbaas/loadbalancers", headers=forged, json={
        "loadbalancer": {"name": "forged", "vip_subnet_id": octolb_subnet(octolb, keystone)}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == b
    listed = octolb.api("GET", "/v2/lbaas/loadbalancers", headers=forged).json()[
        "loadbalancers"]
    assert listed and {x["project_id"] for x in listed} == {b}
    r = octolb.api("POST", "/v2/lbaas/loadbalancers", headers=token(keystone, "member-a"),
                   json={"loadbalancer": {"name": "of-a",
                                          "vip_subnet_id": octolb_subnet(octolb, keystone)}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == a
    r = octolb.api("GET", f"/v2/lbaas/loadbalancers/{r.json()['loadbalancer']['id']}",
                   headers=forged)
    assert r.status_code == 403, r.text

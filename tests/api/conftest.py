"""The API on a real SQLite database, in process. The worker is replaced by its completion
step (reconcile._mark_done) where a test needs an ACTIVE load balancer: these tests are about
the API, not the data plane."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from octolb import config
from octolb.api.app import create_app
from octolb.controller.bus import NullBus
from octolb.controller.reconcile import _mark_done
from octolb.db import migrate
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from octolb.network import local as network


@pytest.fixture
def bus():
    return NullBus()


@pytest.fixture
def api(tmp_path, bus):
    config.load([])
    config.CONF.set_override("state_dir", str(tmp_path))
    url = f"sqlite:///{tmp_path}/octolb.db"
    migrate.upgrade(url)
    dbs.configure(url)
    with dbs.transaction() as s:
        network.seed(s, "private", "private-subnet", "127.1.0.0/16")
    with TestClient(create_app(bus)) as client:
        yield client
    dbs.engine().dispose()
    config.CONF.clear_override("state_dir")


@pytest.fixture
def subnet_id(api):
    return api.get("/network/v2.0/subnets?name=private-subnet").json()["subnets"][0]["id"]


def settle(lb_id: str) -> None:
    """What the worker does when it has converged the load balancer."""
    with dbs.transaction() as s:
        _mark_done(s, s.get(LoadBalancer, lb_id))


@pytest.fixture
def lb(api, subnet_id):
    r = api.post("/v2/lbaas/loadbalancers",
                 json={"loadbalancer": {"name": "lb1", "vip_subnet_id": subnet_id}})
    assert r.status_code == 201, r.text
    lb_id = r.json()["loadbalancer"]["id"]
    settle(lb_id)
    return lb_id


@pytest.fixture
def listener(api, lb):
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["listener"]["id"]


@pytest.fixture
def pool(api, lb, listener):
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["pool"]["id"]


# --- provider profiles and the named choices of them (flavors, availability zones) ---------

NIL = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "6f1e9c52-3f4e-4a8e-9a51-2b2f7f0d9c11"
MEMBER = {"X-Project-Id": "tenant-a", "X-Roles": "member,reader,load-balancer_member"}


def fault(r, status: int) -> str:
    """The faultstring of an Octavia error body, after checking the body's shape."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    assert body["debuginfo"] is None
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    return body["faultstring"]


def created(r, key: str, field: str = "id") -> str:
    """`field` of the object a create answered with; the create must have been a 201."""
    assert r.status_code == 201, r.text
    return r.json()[key][field]


@dataclass(frozen=True)
class ProfiledAPI:
    """A kind of provider profile and of the named choice made of one, as a client sends them:
    flavor profiles and flavors, availability zone profiles and availability zones."""

    profiles: str       # collection URL of the profiles
    profile_key: str    # their body key
    data_field: str     # their metadata field
    profile_name: str   # a new profile's default name
    choices: str        # collection URL of the choices
    choice_key: str     # their body key
    profile_field: str  # the profile a choice is made of
    choice_name: str    # a new choice's default name

    def new_profile(self, api, data=None, name=None, provider="amphora"):
        """POST a profile; `data` is sent as it is when a string, else as JSON."""
        return api.post(self.profiles, json={self.profile_key: {
            "name": self.profile_name if name is None else name, "provider_name": provider,
            self.data_field: data if isinstance(data, str) else json.dumps(data or {})}})

    def new_choice(self, api, profile_id, name=None, **kw):
        return api.post(self.choices, json={self.choice_key: {
            "name": self.choice_name if name is None else name, self.profile_field: profile_id,
            **kw}})


def new_lb(api, subnet_id, headers=None, **kw):
    return api.post("/v2/lbaas/loadbalancers", headers=headers,
                    json={"loadbalancer": {"vip_subnet_id": subnet_id, **kw}})

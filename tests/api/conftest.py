"""The API on a real SQLite database, in process. The worker is replaced by its completion
step (reconcile._mark_done) where a test needs an ACTIVE load balancer: these tests are about
the API, not the data plane."""

from __future__ import annotations

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

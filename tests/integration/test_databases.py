"""The schema and the API on the real multi-node databases: PostgreSQL and MariaDB.
Each test uses a database of its own, made and dropped here."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from octolb import config
from octolb.api.app import create_app
from octolb.controller.bus import NullBus
from octolb.controller.reconcile import _mark_done
from octolb.db import migrate
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from octolb.network import local as network
from tests.api.test_pagination import (
    check_page_reverse_is_the_page_before_the_marker,
    check_walk_with_mixed_directions_and_null_sort_values,
    make_lbs,
)

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/{db}",
}


@pytest.fixture(params=sorted(SERVERS))
def database_url(request):
    kind = request.param
    admin_url = SERVERS[kind].format(db="postgres" if kind == "postgresql" else "")
    name = f"octolb_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"!!! {kind} IS NOT RUNNING here, its test did NOT run: {exc} !!!")
    yield SERVERS[kind].format(db=name)
    dbs.engine().dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_migrations_and_the_api_work_on(database_url, tmp_path):
    config.load([])
    config.CONF.set_override("state_dir", str(tmp_path))
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)  # idempotent, as at every start
    dbs.configure(database_url)
    with dbs.transaction() as s:
        network.seed(s, "private", "private-subnet", "127.1.0.0/16")
    api = TestClient(create_app(NullBus()))
    sub = api.get("/network/v2.0/subnets?name=private-subnet").json()["subnets"][0]["id"]
    lb = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": sub, "tags": ["a"]}}).json()["loadbalancer"]
    with dbs.transaction() as s:
        _mark_done(s, s.get(LoadBalancer, lb["id"]))
    lis = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert lis.status_code == 201, lis.text
    dup = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert dup.status_code == 409  # the lock, on this database's row locking
    doc = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert doc["provisioning_status"] == "PENDING_UPDATE" and doc["tags"] == ["a"]
    assert api.get("/v2/lbaas/loadbalancers?tags=a").json()["loadbalancers"][0]["id"] == lb["id"]
    # a fixed address taken twice is a 409 here too (unique key, not a 500)
    body = {"loadbalancer": {"vip_subnet_id": sub, "vip_address": "127.1.9.9"}}
    assert api.post("/v2/lbaas/loadbalancers", json=body).status_code == 201
    assert api.post("/v2/lbaas/loadbalancers", json=body).status_code == 409
    # key-manager consumers: the registered ones (a unique key), the load balancers' own
    km = "/key-manager/v1/secrets"
    ref = api.post(km, json={"payload": "p", "payload_content_type": "text/plain"}).json()[
        "secret_ref"].rsplit("/", 1)[1]
    consumer = {"service": "image", "resource_type": "image", "resource_id": "i1"}
    for _ in range(2):
        assert api.post(f"{km}/{ref}/consumers", json=consumer).status_code == 200
    assert api.get(f"{km}/{ref}/consumers").json()["total"] == 1
    assert api.delete(f"{km}/{ref}").status_code == 409
    assert api.request("DELETE", f"{km}/{ref}/consumers", json=consumer).status_code == 200
    assert api.delete(f"{km}/{ref}").status_code == 204
    config.CONF.clear_override("state_dir")


def test_keyset_pagination_on(database_url, tmp_path):
    """The SQL of `marker`/`page_reverse` under mixed sort directions and NULL sort values
    (which PostgreSQL orders last, MariaDB first)."""
    config.load([])
    config.CONF.set_override("state_dir", str(tmp_path))
    try:
        migrate.upgrade(database_url)
        dbs.configure(database_url)
        with dbs.transaction() as s:
            network.seed(s, "private", "private-subnet", "127.1.0.0/16")
        api = TestClient(create_app(NullBus()))
        sub = api.get("/network/v2.0/subnets?name=private-subnet").json()["subnets"][0]["id"]
        lbs = make_lbs(api, sub)
        check_walk_with_mixed_directions_and_null_sort_values(api, lbs)
        check_page_reverse_is_the_page_before_the_marker(api, lbs)
    finally:
        config.CONF.clear_override("state_dir")

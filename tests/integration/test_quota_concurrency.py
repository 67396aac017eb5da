"""Quotas hold under concurrency: parallel HTTP clients against several API servers on one
database (a real `octolb up` process plus two more API servers, each in a thread with its
own event loop, as split mode would run them) never get more objects than the quota, on
SQLite, PostgreSQL and MariaDB. No-op drivers: no amphora is built."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from octolb import config
from octolb.api.app import create_app
from octolb.controller.bus import NullBus
from octolb.db import session as dbs
from tests.harness import Octolb, free_port, wait_until

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/{db}",
}
NOOP = ("[controller_worker]\ncompute_driver = noop\namphora_driver = noop\n"
        "network_driver = noop\n")
PARALLEL = 20


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("quota") / "state"


@pytest.fixture(scope="module", params=["sqlite", *sorted(SERVERS)])
def database_url(request, state_dir):
    kind = request.param
    if kind == "sqlite":
        yield f"sqlite:///{state_dir}/octolb.db"  # the state directory's own
        return
    admin_url = SERVERS[kind].format(db="postgres" if kind == "postgresql" else "")
    name = f"octolb_quota_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"!!! {kind} IS NOT RUNNING here, its test did NOT run: {exc} !!!")
    yield SERVERS[kind].format(db=name)
    with admin.connect() as conn:
        if kind == "postgresql":
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        else:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
    admin.dispose()


class ApiThread:
    """One more API server on the same database: uvicorn with its own event loop."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(NullBus()), host="127.0.0.1", port=port, log_level="warning",
            access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ApiThread:
        self.thread.start()
        wait_until(lambda: self.server.started, 15, what="API server thread")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def apis(database_url, state_dir):
    """URLs of three API servers on one database: `octolb up` and two threads here (shared
    by the tests of one database: each uses a project of its own)."""
    if state_dir.exists():
        shutil.rmtree(state_dir)  # the previous database's
    octolb = Octolb(state_dir,
                    extra_conf=NOOP + f"[database]\nconnection = {database_url}\n")
    octolb.start()
    threads: list[ApiThread] = []
    try:
        config.load(["--config-file", str(octolb.conf)])
        config.CONF.set_override("state_dir", str(octolb.state_dir))
        dbs.configure(database_url)
        threads = [ApiThread().start() for _ in range(2)]
        yield octolb, [octolb.url] + [t.url for t in threads]
    finally:
        for t in threads:
            t.stop()
        octolb.close()
        if dbs._engine is not None:
            dbs.engine().dispose()
        config.CONF.clear_override("state_dir")


def _all_at_once(calls) -> list[httpx.Response]:
    """Run the calls from PARALLEL threads released together."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _post(url: str, path: str, body: dict, project: str):
    return lambda: httpx.post(url + path, json=body, headers={"X-Project-Id": project},
                              timeout=60)


def _assert_exactly(responses, allowed: int, word: str) -> None:
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: allowed, 403: len(responses) - allowed}, \
        [(r.status_code, r.text[:200]) for r in responses if r.status_code not in (201, 403)]
    for r in responses:
        if r.status_code == 403:
            assert r.json()["faultstring"] == f"Quota has been met for resources: {word}"


def test_parallel_creates_never_exceed_the_quota(apis):
    octolb, urls = apis
    project = "quota-race"
    r = octolb.api("PUT", f"/v2/lbaas/quotas/{project}", json={"quota": {"loadbalancer": 5}})
    assert r.status_code == 202, r.text

    body = {"loadbalancer": {"vip_subnet_id": str(uuid.uuid4())}}
    responses = _all_at_once([_post(urls[i % len(urls)], "/v2/lbaas/loadbalancers", body,
                                    project) for i in range(PARALLEL)])
    _assert_exactly(responses, 5, "Load Balancer")
    lbs = octolb.api("GET", f"/v2/lbaas/loadbalancers?project_id={project}").json()[
        "loadbalancers"]
    assert len(lbs) == 5


def test_parallel_creates_on_different_load_balancers_share_one_quota(apis):
    """Listener creates on different LBs are not serialised by the LB lock: only the quota
    row keeps them from all passing."""
    octolb, urls = apis
    project = "quota-children"
    lb_ids = []
    for _ in range(8):
        r = octolb.api("POST", "/v2/lbaas/loadbalancers", headers={"X-Project-Id": project},
                       json={"loadbalancer": {"vip_subnet_id": str(uuid.uuid4())}})
        assert r.status_code == 201, r.text
        lb_ids.append(r.json()["loadbalancer"]["id"])
    for lb_id in lb_ids:
        octolb.wait_active(lb_id, timeout=60)
    r = octolb.api("PUT", f"/v2/lbaas/quotas/{project}", json={"quota": {"listener": 3}})
    assert r.status_code == 202, r.text

    responses = _all_at_once([
        _post(urls[i % len(urls)], "/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}}, project)
        for i, lb_id in enumerate(lb_ids)])
    _assert_exactly(responses, 3, "Listener")

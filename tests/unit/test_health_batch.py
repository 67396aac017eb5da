"""The health manager's cost per batch of heartbeats: a constant number of SQL statements,
whatever the number of listeners, pools and members behind the amphorae, and no status
writes when nothing changed. Driven through HealthManager itself (its inbox, its processing
thread), so the measure is the one the running service pays."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import event

from octolb import config
from octolb.controller.bus import NullBus
from octolb.controller.health import HealthManager
from octolb.db import migrate
from octolb.db import session as dbs
from octolb.db.models import (
    Amphora,
    AmphoraHealth,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
    utcnow,
)


@pytest.fixture
def db(tmp_path):
    config.load([])
    url = f"sqlite:///{tmp_path}/hb.db"
    migrate.upgrade(url)
    dbs.configure(url)
    yield
    dbs.engine().dispose()


def make_lbs(n_lbs: int, n_listeners: int, n_members: int) -> list[dict]:
    """n_lbs ACTIVE LBs, each with n_listeners listeners (each with its pool of n_members
    members) and one amphora that has reported before."""
    out = []
    with dbs.transaction() as s:
        for _ in range(n_lbs):
            lb = LoadBalancer(provisioning_status="ACTIVE", operating_status="ONLINE",
                              project_id="p")
            s.add(lb)
            s.flush()
            amp = Amphora(load_balancer_id=lb.id, status="ALLOCATED")
            s.add(amp)
            s.flush()
            s.add(AmphoraHealth(amphora_id=amp.id, last_update=utcnow(), busy=False))
            graph = {"amp": amp.id, "listeners": {}, "pools": {}}
            for port in range(n_listeners):
                pool = Pool(load_balancer_id=lb.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                            provisioning_status="ACTIVE", operating_status="ONLINE")
                s.add(pool)
                s.flush()
                lis = Listener(load_balancer_id=lb.id, protocol="HTTP", l4_family="TCP",
                               protocol_port=80 + port, default_pool_id=pool.id,
                               provisioning_status="ACTIVE", operating_status="ONLINE")
                s.add(lis)
                members = [Member(pool_id=pool.id, ip_address="127.0.0.1",
                                  protocol_port=1000 + i, provisioning_status="ACTIVE",
                                  operating_status="NO_MONITOR") for i in range(n_members)]
                s.add_all(members)
                s.flush()
                graph["listeners"][lis.id] = pool.id
                graph["pools"][pool.id] = [m.id for m in members]
            out.append(graph)
    return out


def heartbeat(graph: dict, member_status: str = "UP", rx: int = 0) -> dict:
    listeners = {lid: {"status": "OPEN", "stats": {"rx": rx, "tx": 0, "conns": 0,
                                                   "totconns": 0, "ereq": 0}}
                 for lid in graph["listeners"]}
    pools = {f"{pid}:{lid}": {"status": "UP",
                              "members": dict.fromkeys(graph["pools"][pid], member_status)}
             for lid, pid in graph["listeners"].items()}
    return {"id": graph["amp"], "ver": 3, "seq": 1, "recv_time": time.time(),
            "listeners": listeners, "pools": pools}


class Counter:
    """SQL statements run by the health manager's processing thread."""

    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, _conn, _cursor, statement, *_args):
        if threading.current_thread().name == "health-update":
            self.statements.append(statement.split()[0].upper())

    def committed(self, _conn):
        if threading.current_thread().name == "health-update":
            self.statements.append("COMMIT")


def run_batch(msgs: list[dict]) -> list[str]:
    """Put the heartbeats in a health manager's inbox (one batch), let it process them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    hm = HealthManager("127.0.0.1", port, "k", NullBus(), heartbeat_interval=30,
                       heartbeat_timeout=600)
    for msg in msgs:
        hm._inbox.put(msg)
    counter = Counter()
    event.listen(dbs.engine(), "before_cursor_execute", counter)
    event.listen(dbs.engine(), "commit", counter.committed)
    hm.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if hm._inbox.empty() and "COMMIT" in counter.statements:
                break
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        hm.stop()
        event.remove(dbs.engine(), "before_cursor_execute", counter)
        event.remove(dbs.engine(), "commit", counter.committed)
    assert "COMMIT" in counter.statements, "the batch was not processed"
    return counter.statements


def test_statements_per_batch_do_not_grow_with_listeners_members_or_amphorae(db):
    small = make_lbs(2, 1, 1)
    big = make_lbs(6, 4, 10)
    first_small = run_batch([heartbeat(g) for g in small])
    first_big = run_batch([heartbeat(g) for g in big])
    # statuses change (members NO_MONITOR -> ONLINE) in both: same statements
    assert len(first_big) == len(first_small), (first_small, first_big)
    assert len(first_big) <= 15, first_big
    # nothing changed since: reads, and one UPDATE refreshing the amphorae's health
    again = run_batch([heartbeat(g) for g in big])
    assert again.count("UPDATE") == 1 and "INSERT" not in again, again
    with dbs.transaction() as s:
        assert {m.operating_status for m in s.query(Member)} == {"ONLINE"}
        assert s.query(ListenerStatistics).count() == 2 * 1 + 6 * 4


def test_a_batch_gives_the_same_statuses_and_stats_as_heartbeats_one_by_one(db):
    (g,) = make_lbs(1, 2, 3)
    first_pool = next(iter(g["pools"]))
    down = heartbeat(g, rx=10)
    down["pools"] = {k: {"status": "UP", "members": {
        **v["members"], g["pools"][first_pool][0]: "DOWN"}} if k.startswith(first_pool)
        else v for k, v in down["pools"].items()}
    run_batch([heartbeat(g, rx=5), down])  # two heartbeats of one amphora in one batch
    with dbs.transaction() as s:
        pool = s.get(Pool, first_pool)
        assert pool.operating_status == "DEGRADED"
        assert s.get(LoadBalancer, pool.load_balancer_id).operating_status == "DEGRADED"
        assert s.get(Member, g["pools"][first_pool][0]).operating_status == "ERROR"
        rows = s.query(ListenerStatistics).all()
        assert sorted(r.bytes_in for r in rows) == [15, 15]  # deltas added up


def test_one_malformed_heartbeat_spoils_no_other(db):
    good, bad = make_lbs(2, 1, 1)
    broken = heartbeat(bad)
    broken["listeners"] = ["not", "a", "dict"]
    run_batch([broken, heartbeat(good)])
    with dbs.transaction() as s:
        member = s.get(Member, next(iter(good["pools"].values()))[0])
        assert member.operating_status == "ONLINE"

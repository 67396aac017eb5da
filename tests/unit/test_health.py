"""Health manager: signature checks and the heartbeat → operating_status mapping (§6.2),
on a real SQLite database."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import zlib

import pytest

from octolb import config
from octolb.controller.health import unwrap, update_health
from octolb.controller.stats import update_stats
from octolb.db import migrate
from octolb.db import session as dbs
from octolb.db.models import (
    Amphora,
    AmphoraHealth,
    HealthMonitor,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
)
from octolb.db.stats import for_listeners

KEY = "sekrit"


def sign(msg: dict, key: str = KEY) -> bytes:
    payload = zlib.compress(json.dumps(msg).encode(), 9)
    return payload + hmac.new(key.encode(), payload, hashlib.sha256).hexdigest().encode()


def test_unwrap_accepts_hex_trailer_and_rejects_bad_key_or_tampering():
    msg = {"id": "a", "ver": 3, "listeners": {}}
    assert unwrap(sign(msg), KEY) == msg
    assert unwrap(sign(msg, "other"), KEY) is None
    data = bytearray(sign(msg))
    data[3] ^= 1
    assert unwrap(bytes(data), KEY) is None
    assert unwrap(b"short", KEY) is None


def test_unwrap_accepts_old_binary_digest():
    payload = zlib.compress(b'{"id": "x"}')
    data = payload + hmac.new(KEY.encode(), payload, hashlib.sha256).digest()
    assert unwrap(data, KEY) == {"id": "x"}


@pytest.fixture
def graph(tmp_path):
    config.load([])
    url = f"sqlite:///{tmp_path}/h.db"
    migrate.upgrade(url)
    dbs.configure(url)
    with dbs.transaction() as s:
        lb = LoadBalancer(provisioning_status="ACTIVE", operating_status="ONLINE",
                          project_id="p")
        s.add(lb)
        s.flush()
        pool = Pool(load_balancer_id=lb.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                    provisioning_status="ACTIVE", operating_status="ONLINE")
        s.add(pool)
        s.flush()
        lis = Listener(load_balancer_id=lb.id, protocol="HTTP", l4_family="TCP",
                       protocol_port=80, default_pool_id=pool.id,
                       provisioning_status="ACTIVE", operating_status="ONLINE")
        s.add(lis)
        s.add(HealthMonitor(pool_id=pool.id, type="HTTP", delay=2, timeout=1,
                            rise_threshold=2, provisioning_status="ACTIVE",
                            operating_status="ONLINE"))
        m1 = Member(pool_id=pool.id, ip_address="127.0.0.1", protocol_port=1,
                    provisioning_status="ACTIVE", operating_status="OFFLINE")
        m2 = Member(pool_id=pool.id, ip_address="127.0.0.1", protocol_port=2,
                    provisioning_status="ACTIVE", operating_status="OFFLINE")
        s.add_all([m1, m2])
        amp = Amphora(load_balancer_id=lb.id, status="ALLOCATED", lb_network_ip="127.2.0.9")
        s.add(amp)
        s.flush()
        ids = {"lb": lb.id, "pool": pool.id, "lis": lis.id, "m1": m1.id, "m2": m2.id,
               "amp": amp.id}
    yield ids
    dbs.engine().dispose()


def beat(ids, members: dict, pool_status="UP", listener_status="OPEN", stats=None):
    return {"id": ids["amp"], "ver": 3, "seq": 1, "recv_time": time.time(),
            "listeners": {ids["lis"]: {"status": listener_status,
                                       "stats": stats or {"rx": 0, "tx": 0, "conns": 0,
                                                          "totconns": 0, "ereq": 0}}},
            "pools": {f"{ids['pool']}:{ids['lis']}": {"status": pool_status,
                                                      "members": members}}}


def statuses(ids):
    with dbs.transaction() as s:
        return {k: s.get(model, ids[k]).operating_status for k, model in
                (("lb", LoadBalancer), ("lis", Listener), ("pool", Pool), ("m1", Member),
                 ("m2", Member))}


def apply(msg):
    with dbs.transaction() as s:
        update_health(s, msg, heartbeat_interval=10)


def test_all_up_is_online_and_refreshes_amphora_health(graph):
    apply(beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP 1/2"}))
    assert statuses(graph) == {"lb": "ONLINE", "lis": "ONLINE", "pool": "ONLINE",
                               "m1": "ONLINE", "m2": "ONLINE"}
    with dbs.transaction() as s:
        assert s.get(AmphoraHealth, graph["amp"]) is not None


def test_one_member_down_degrades_pool_and_lb(graph):
    apply(beat(graph, {graph["m1"]: "DOWN", graph["m2"]: "UP"}))
    st = statuses(graph)
    assert (st["m1"], st["m2"], st["pool"], st["lb"]) == ("ERROR", "ONLINE", "DEGRADED",
                                                          "DEGRADED")


def test_backend_down_is_pool_and_lb_error(graph):
    apply(beat(graph, {graph["m1"]: "DOWN", graph["m2"]: "DOWN"}, pool_status="DOWN"))
    st = statuses(graph)
    assert (st["pool"], st["lb"], st["m1"]) == ("ERROR", "ERROR", "ERROR")


def test_other_member_strings(graph):
    apply(beat(graph, {graph["m1"]: "DRAIN", graph["m2"]: "MAINT"}))
    st = statuses(graph)
    assert (st["m1"], st["m2"]) == ("DRAINING", "OFFLINE")
    apply(beat(graph, {graph["m1"]: "no check", graph["m2"]: "no check"}))
    assert statuses(graph)["m1"] == "NO_MONITOR"


def test_full_listener_degrades_and_missing_listener_is_error(graph):
    apply(beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"}, listener_status="FULL"))
    st = statuses(graph)
    assert (st["lis"], st["lb"]) == ("DEGRADED", "DEGRADED")
    msg = beat(graph, {})
    msg["listeners"], msg["pools"] = {}, {}
    with dbs.transaction() as s:
        s.execute(AmphoraHealth.__table__.delete())
    apply(msg)
    st = statuses(graph)
    assert st["lis"] == "ERROR" and st["pool"] == "OFFLINE"
    with dbs.transaction() as s:  # wrong listener count: health is not refreshed
        assert s.get(AmphoraHealth, graph["amp"]) is None


def test_stats_deltas_are_added_and_active_connections_replaced(graph):
    for conns in (3, 1):
        msg = beat(graph, {}, stats={"rx": 100, "tx": 1000, "conns": conns, "totconns": 5,
                                     "ereq": 1})
        with dbs.transaction() as s:
            update_stats(s, msg)
    with dbs.transaction() as s:
        row = s.get(ListenerStatistics, (graph["lis"], graph["amp"]))
        assert (row.bytes_in, row.bytes_out, row.total_connections, row.request_errors,
                row.active_connections) == (200, 2000, 10, 2, 1)
        assert for_listeners(s, [graph["lis"]])["total_connections"] == 10


def test_member_missing_from_a_reported_pool_is_offline_unless_no_monitor(graph):
    apply(beat(graph, {graph["m1"]: "UP"}))  # m2 absent
    st = statuses(graph)
    assert (st["m1"], st["m2"]) == ("ONLINE", "OFFLINE")
    with dbs.transaction() as s:
        s.get(Member, graph["m2"]).operating_status = "NO_MONITOR"
    apply(beat(graph, {graph["m1"]: "UP"}))
    assert statuses(graph)["m2"] == "NO_MONITOR"


def test_empty_backend_reported_up_is_online(graph):
    apply(beat(graph, {}, pool_status="UP"))
    assert statuses(graph)["pool"] == "ONLINE"


def test_a_heartbeat_processed_too_late_does_not_refresh_health(graph):
    msg = beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"})
    msg["recv_time"] = time.time() - 30  # a backlog: older than the heartbeat interval
    apply(msg)
    with dbs.transaction() as s:
        assert s.get(AmphoraHealth, graph["amp"]) is None


def test_purge_removes_only_rows_deleted_long_ago(graph):
    import datetime as dt

    from octolb.controller.housekeeping import purge_deleted
    from octolb.db.models import utcnow

    with dbs.transaction() as s:
        lb = s.get(LoadBalancer, graph["lb"])
        old = LoadBalancer(provisioning_status="DELETED", operating_status="OFFLINE")
        s.add(old)
        s.flush()
        old.updated_at = utcnow() - dt.timedelta(days=8)
        lb.provisioning_status = "DELETED"  # deleted just now: kept
        old_id = old.id
    assert purge_deleted(7 * 86400, 7 * 86400) == 1
    with dbs.transaction() as s:
        assert s.get(LoadBalancer, old_id) is None
        assert s.get(LoadBalancer, graph["lb"]) is not None

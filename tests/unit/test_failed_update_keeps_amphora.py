"""A failed *update* of a listener that is being served (the renderer refuses the new input,
or HAProxy refuses the new configuration) pushes nothing: the amphora keeps running the last
configuration it accepted, that listener included. Its heartbeats must still count as
healthy (the expected listeners are those of that configuration, `Amphora.applied_listeners`),
or the health manager would fail a working load balancer over as silent, and the failover
would fail the same way. A failover that gives up must not leave the amphorae it built."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from octolb import constants as c
from octolb.amphora.client import InvalidConfig
from octolb.amphora.noop import NoopAmphoraClient
from octolb.compute.base import NoopComputeDriver
from octolb.config import CONF
from octolb.controller import reconcile
from octolb.db import session as dbs
from octolb.db.models import Amphora, AmphoraHealth, Listener, LoadBalancer
from tests.unit import test_health
from tests.unit.test_health import apply, beat

graph = test_health.graph  # the fixture: one LB, listener, pool, two members, amphora

OLD = dt.datetime(2000, 1, 1)


def _stale_health(amp_id: str) -> None:
    with dbs.transaction() as s:
        row = s.get(AmphoraHealth, amp_id)
        if row is None:
            s.add(AmphoraHealth(amphora_id=amp_id, last_update=OLD, busy=False))
        else:
            row.last_update = OLD


def _touched(amp_id: str) -> bool:
    with dbs.transaction() as s:
        return s.get(AmphoraHealth, amp_id).last_update > OLD


def _set_applied(graph, n: int | None) -> None:
    with dbs.transaction() as s:
        s.get(Amphora, graph["amp"]).applied_listeners = n


def _update_listener(graph) -> None:
    """The API's side of a listener update (or of an L7 policy/rule on it)."""
    with dbs.transaction() as s:
        s.get(LoadBalancer, graph["lb"]).provisioning_status = c.PENDING_UPDATE
        s.get(Listener, graph["lis"]).provisioning_status = c.PENDING_UPDATE


@pytest.mark.parametrize("applied", [1, None], ids=["recorded", "not-recorded"])
def test_failed_listener_update_does_not_make_a_healthy_amphora_stale(graph, applied):
    """`None`: an amphora configured before the count was recorded (an upgrade)."""
    _set_applied(graph, applied)
    _stale_health(graph["amp"])
    _update_listener(graph)
    # the worker: the new configuration cannot be rendered / is refused by HAProxy
    reconcile._mark_failed(graph["lb"], "listener ... hsts_max_age must be between ...",
                           retryable=False)
    with dbs.transaction() as s:
        lis = s.get(Listener, graph["lis"])
        assert lis.provisioning_status == c.ERROR
        assert s.get(LoadBalancer, graph["lb"]).provisioning_status == c.ACTIVE
    # the amphora still runs the previous configuration, listener included
    apply(beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"}))
    assert _touched(graph["amp"]), (
        "a live, reporting amphora was not touched: it will be failed over as silent")
    with dbs.transaction() as s:  # still served: its operating status is the heartbeat's
        lis = s.get(Listener, graph["lis"])
        assert (lis.provisioning_status, lis.operating_status) == (c.ERROR, c.ONLINE)


def test_failed_listener_create_is_not_expected_on_the_amphora(graph):
    """A listener whose create failed was never pushed: an amphora reporting only the
    others is healthy; one reporting fewer than it was given is not."""
    _set_applied(graph, 1)
    with dbs.transaction() as s:
        s.add(Listener(load_balancer_id=graph["lb"], protocol="HTTP", l4_family="TCP",
                       protocol_port=81, provisioning_status=c.ERROR,
                       operating_status=c.OFFLINE))
    _stale_health(graph["amp"])
    apply(beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"}))
    assert _touched(graph["amp"])

    _stale_health(graph["amp"])
    msg = beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"})
    msg["listeners"] = {}  # its HAProxy lost the frontend it was given
    apply(msg)
    assert not _touched(graph["amp"])


# --- with the worker (no-op compute; the agent API is a recording fake) -------------------

class Client(NoopAmphoraClient):
    expects_heartbeats = True

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False

    def upload_config(self, amp, lb_id: str, text: str) -> None:
        if self.refuse:
            raise InvalidConfig("invalid HAProxy configuration", 400, "[ALERT] refused")
        super().upload_config(amp, lb_id, text)


class CA:
    ca_cert_path = Path("/nonexistent/ca.pem")

    def issue_server_cert(self, amp_id: str, validity: int):
        return b"pem", dt.datetime(2100, 1, 1)


@pytest.fixture
def drivers(graph, tmp_path):
    with dbs.transaction() as s:
        s.get(LoadBalancer, graph["lb"]).vip_address = "127.1.0.9"
    compute = NoopComputeDriver()
    compute.build(graph["amp"], "127.2.0.9", server_pem=b"", ca_cert_path=tmp_path,
                  heartbeat_key="k", heartbeat_destinations=[], heartbeat_interval=1)
    return reconcile.Drivers(compute=compute, client=Client(), ca=CA(), heartbeat_key="k",
                             amphora_base=tmp_path / "amphorae")


def _live_amphorae(lb_id: str) -> list[str]:
    with dbs.transaction() as s:
        return sorted(a.id for a in s.get(LoadBalancer, lb_id).amphorae
                      if a.status != c.DELETED)


def test_the_worker_records_what_the_amphora_was_given_and_a_refused_update_keeps_it(
        graph, drivers):
    _update_listener(graph)
    assert reconcile._reconcile(graph["lb"], drivers) is True
    with dbs.transaction() as s:
        assert s.get(Amphora, graph["amp"]).applied_listeners == 1
        assert s.get(Listener, graph["lis"]).provisioning_status == c.ACTIVE

    drivers.client.refuse = True  # HAProxy refuses the next configuration
    _update_listener(graph)
    assert reconcile._reconcile(graph["lb"], drivers) is True
    with dbs.transaction() as s:
        assert s.get(Listener, graph["lis"]).provisioning_status == c.ERROR
        assert s.get(LoadBalancer, graph["lb"]).provisioning_status == c.ACTIVE
        assert s.get(Amphora, graph["amp"]).applied_listeners == 1
    _stale_health(graph["amp"])
    apply(beat(graph, {graph["m1"]: "UP", graph["m2"]: "UP"}))
    assert _touched(graph["amp"])


def test_a_failover_that_gives_up_leaves_no_amphora_it_built(graph, drivers):
    drivers.client.refuse = True  # every configuration is refused, the replacements' too
    with dbs.transaction() as s:
        lb = s.get(LoadBalancer, graph["lb"])
        lb.provisioning_status, lb.failover_requested = c.PENDING_UPDATE, True
    attempts = 0
    while True:
        attempts += 1
        reconcile._reconcile(graph["lb"], drivers)
        assert drivers.compute.list() == [graph["amp"]], f"after attempt {attempts}"
        assert _live_amphorae(graph["lb"]) == [graph["amp"]]
        with dbs.transaction() as s:
            lb = s.get(LoadBalancer, graph["lb"])
            if not lb.failover_requested:
                break
            lb.retry_not_before = None  # no back-off in a unit test
        assert attempts < 20
    assert attempts == CONF.controller_worker.failover_max_attempts
    with dbs.transaction() as s:
        assert s.get(LoadBalancer, graph["lb"]).provisioning_status == c.ERROR

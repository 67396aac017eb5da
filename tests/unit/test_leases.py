"""Leases keep two reconcile threads (of one process or many) off the same load balancer."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from octolb import config
from octolb.controller import reconcile
from octolb.controller.worker import worker_id
from octolb.db import migrate
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer, utcnow


@pytest.fixture
def lb_id(tmp_path):
    config.load([])
    url = f"sqlite:///{tmp_path}/l.db"
    migrate.upgrade(url)
    dbs.configure(url)
    with dbs.transaction() as s:
        lb = LoadBalancer(provisioning_status="PENDING_CREATE", operating_status="OFFLINE")
        s.add(lb)
        s.flush()
        lid = lb.id
    yield lid
    dbs.engine().dispose()


def test_a_held_lease_excludes_other_threads_until_released(lb_id):
    mine = worker_id()
    others = []
    t = threading.Thread(target=lambda: others.append(worker_id()))
    t.start()
    t.join()
    assert others[0] != mine  # one owner per thread
    assert reconcile.take_lease(lb_id, mine)
    assert not reconcile.take_lease(lb_id, others[0])
    reconcile.release_lease(lb_id, mine)
    assert reconcile.take_lease(lb_id, others[0])


def test_an_expired_lease_can_be_taken_over(lb_id):
    assert reconcile.take_lease(lb_id, "h:1:1")
    with dbs.transaction() as s:
        s.get(LoadBalancer, lb_id).lease_expires = utcnow() - dt.timedelta(seconds=1)
    assert reconcile.take_lease(lb_id, "h:2:2")


def test_leases_of_a_dead_local_process_are_released_at_start(lb_id):
    import socket
    host = socket.gethostname()
    with dbs.transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        lb.lease_owner = f"{host}:999999999:1"  # no such pid
        lb.lease_expires = utcnow() + dt.timedelta(hours=1)
    reconcile.release_dead_local_leases()
    assert reconcile.take_lease(lb_id, worker_id())

"""A database lock conflict is never a 500: the API runs the request again (it is the whole
transaction) and, when the lock stays taken, answers 503 with a faultstring and Retry-After.
SQLite's write lock is held from another connection (BEGIN IMMEDIATE) to make it happen."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from octolb import config
from octolb.db import session as dbs

LBS = "/v2/lbaas/loadbalancers"


@pytest.fixture
def short_waits(api):
    """Busy timeouts and retries in tenths of a second (the defaults are seconds)."""
    for name, value in (("sqlite_api_busy_timeout", 0.1), ("db_max_retries", 2),
                        ("db_retry_interval", 0.05)):
        config.CONF.set_override(name, value, group="database")
    yield
    for name in ("sqlite_api_busy_timeout", "db_max_retries", "db_retry_interval"):
        config.CONF.clear_override(name, group="database")


@pytest.fixture
def write_lock(tmp_path):
    """Another process's transaction holding SQLite's write lock."""
    con = sqlite3.connect(tmp_path / "octolb.db", isolation_level=None, timeout=5,
                          check_same_thread=False)
    con.execute("BEGIN IMMEDIATE")
    yield con
    if con.in_transaction:
        con.rollback()
    con.close()


def _create(api, subnet_id, name="lb1"):
    return api.post(LBS, json={"loadbalancer": {"name": name, "vip_subnet_id": subnet_id}})


def test_a_held_write_lock_is_a_503_with_retry_after(api, subnet_id, short_waits, write_lock):
    t0 = time.monotonic()
    r = _create(api, subnet_id)
    assert r.status_code == 503, r.text
    assert r.json() == {"faultcode": "Server",
                        "faultstring": "The database is busy; retry the request.",
                        "debuginfo": None}
    assert int(r.headers["Retry-After"]) >= 1
    assert time.monotonic() - t0 < 5  # three attempts of 0.1 s, not a 30 s busy timeout
    # reads do not wait for the write lock (WAL readers never do)
    r = api.get(LBS)
    assert r.status_code == 200 and r.json()["loadbalancers"] == []
    write_lock.rollback()
    r = _create(api, subnet_id)
    assert r.status_code == 201, r.text


def test_a_lock_released_in_time_is_retried_and_succeeds_once(api, subnet_id, short_waits,
                                                            write_lock, caplog):
    config.CONF.set_override("db_max_retries", 5, group="database")
    caplog.set_level("INFO", logger="octolb.api.errors")
    release = threading.Timer(0.3, write_lock.rollback)
    release.start()
    try:
        t0 = time.monotonic()
        r = _create(api, subnet_id)
        took = time.monotonic() - t0
    finally:
        release.join()
    assert r.status_code == 201, r.text
    assert took >= 0.1  # it did wait for the lock (at least one attempt's busy timeout)
    assert "database busy" in caplog.text and "retry 1 of 5" in caplog.text
    lbs = api.get(LBS).json()["loadbalancers"]
    assert [lb["id"] for lb in lbs] == [r.json()["loadbalancer"]["id"]]  # created once


def test_body_is_given_again_to_a_retried_request(api, subnet_id, short_waits, write_lock):
    config.CONF.set_override("db_max_retries", 5, group="database")
    release = threading.Timer(0.25, write_lock.rollback)
    release.start()
    try:
        r = _create(api, subnet_id, name="named-after-a-retry")
    finally:
        release.join()
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["name"] == "named-after-a-retry"


class _Orig(Exception):
    def __init__(self, *args, pgcode=None, sqlite_errorcode=None):
        super().__init__(*args)
        if pgcode is not None:
            self.pgcode = pgcode
        if sqlite_errorcode is not None:
            self.sqlite_errorcode = sqlite_errorcode


@pytest.mark.parametrize(("orig", "retriable"), [
    (_Orig("database is locked", sqlite_errorcode=5), True),
    (_Orig("database is locked", sqlite_errorcode=517), True),  # SQLITE_BUSY_SNAPSHOT
    (_Orig("database table is locked", sqlite_errorcode=6), True),
    (_Orig("no such table: x", sqlite_errorcode=1), False),
    (_Orig(1213, "Deadlock found when trying to get lock"), True),
    (_Orig(1205, "Lock wait timeout exceeded"), True),
    (_Orig(1062, "Duplicate entry"), False),
    (_Orig("could not serialize access", pgcode="40001"), True),
    (_Orig("deadlock detected", pgcode="40P01"), True),
    (_Orig("unique violation", pgcode="23505"), False),
    (_Orig("database is locked"), True),  # a driver without codes
])
def test_which_database_errors_are_retriable(orig, retriable):
    assert dbs.is_retriable(OperationalError("SELECT 1", {}, orig)) is retriable
    assert dbs.is_retriable(orig) is False  # only SQLAlchemy's wrapped errors


def test_retrying_runs_a_transaction_again_then_gives_up(api, short_waits):
    calls = []
    busy = OperationalError("BEGIN IMMEDIATE", {}, _Orig("database is locked",
                                                         sqlite_errorcode=5))

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise busy
        return "done"
    assert dbs.retrying(flaky) == "done" and len(calls) == 3

    def always():
        raise busy
    with pytest.raises(OperationalError):
        dbs.retrying(always, retries=1)

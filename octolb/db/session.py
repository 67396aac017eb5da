"""Engine and session handling. One engine per process; SQLite gets WAL and a busy timeout so
the API, the worker and the health manager threads can share it.

Lock conflicts (SQLite busy, MySQL/MariaDB deadlock or lock wait timeout, PostgreSQL
serialization failure or deadlock) are recognised by `is_retriable`: a whole transaction that
failed on one can be run again (`retrying`), and the API answers 503 when retries are spent
(api/errors.py)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from oslo_config import cfg
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from octolb.config import CONF

LOG = logging.getLogger(__name__)
T = TypeVar("T")

_opts = [
    cfg.FloatOpt("sqlite_busy_timeout", default=30.0, min=0.0,
                 help="Seconds a SQLite connection of the worker, health manager or "
                      "housekeeping waits for the write lock before its transaction fails "
                      "as busy (and is retried, see db_max_retries)."),
    cfg.FloatOpt("sqlite_api_busy_timeout", default=5.0, min=0.0,
                 help="The same for an API request: it is retried after this (the event "
                      "loop is not held for longer), then answered 503 with Retry-After."),
    cfg.IntOpt("db_max_retries", default=3, min=0,
               help="Times a transaction that failed on a lock conflict is run again."),
    cfg.FloatOpt("db_retry_interval", default=0.25, min=0.0,
                 help="Seconds before the first retry; doubled for each next one, with "
                      "jitter."),
]
CONF.register_opts(_opts, group="database")

_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None

# SQLite primary result codes: SQLITE_BUSY, SQLITE_LOCKED (extended codes keep them in the
# low byte).
_SQLITE_BUSY_CODES = {5, 6}
_SQLITE_BUSY_TEXT = ("database is locked", "database is busy", "database table is locked")
_MYSQL_CODES = {1213, 1205}  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
_PG_STATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_retriable(exc: BaseException) -> bool:
    """A lock conflict: the transaction was rolled back (or never began) and running it
    again may succeed."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if orig is None:
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_BUSY_CODES
    state = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if state is not None:
        return state in _PG_STATES
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_CODES
    text = str(orig).lower()
    return any(t in text for t in _SQLITE_BUSY_TEXT)


def retry_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): doubling, with jitter so
    that the losers of one conflict do not meet again."""
    base = CONF.database.db_retry_interval * 2 ** (attempt - 1)
    return base * random.uniform(0.5, 1.5)


def retrying(fn: Callable[[], T], what: str = "a transaction",
             retries: int | None = None) -> T:
    """Run `fn` (a whole transaction: it opens and commits its own) again when it fails on a
    lock conflict, up to `db_max_retries` times; the last error is raised."""
    retries = CONF.database.db_max_retries if retries is None else retries
    attempt = 0
    while True:
        try:
            return fn()
        except DBAPIError as exc:
            if not is_retriable(exc) or attempt >= retries:
                raise
            attempt += 1
            delay = retry_delay(attempt)
            LOG.warning("%s: database busy (%s); retry %d of %d in %.2fs", what, exc.orig,
                        attempt, retries, delay)
            time.sleep(delay)


def _sqlite_pragmas(dbapi_conn, record) -> None:
    # SQLAlchemy emits BEGIN itself (below): the driver must not open transactions of its own.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is safe against corruption and against a crash of octolb; only an
    # OS crash or power loss can undo the last commits. One fsync per commit (FULL) does not
    # keep up with the heartbeats of hundreds of amphorae.
    cur.execute("PRAGMA synchronous=NORMAL")
    ms = _busy_ms(CONF.database.sqlite_busy_timeout)
    cur.execute(f"PRAGMA busy_timeout={ms}")
    record.info["busy_timeout_ms"] = ms
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _busy_ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


def _sqlite_begin_immediate(conn) -> None:
    """Take SQLite's write lock when a transaction starts, so a busy database makes it wait
    (busy_timeout). A deferred transaction that reads and then writes after another one
    committed fails at once with "database is locked", whatever the timeout.

    A connection with the `deferred_begin` option (see `reads_only`) begins deferred: it
    only reads, and must not take the write lock. One with `busy_timeout_ms` (API requests)
    waits that long for the lock instead of the connection's default."""
    opts = conn.get_execution_options()
    info = conn.connection.info
    default = _busy_ms(CONF.database.sqlite_busy_timeout)
    want = opts.get("busy_timeout_ms", default)
    if info.get("busy_timeout_ms") != want:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(want)}")
        info["busy_timeout_ms"] = want
    conn.exec_driver_sql("BEGIN" if opts.get("deferred_begin") else "BEGIN IMMEDIATE")


def reads_only(session: Session) -> None:
    """From now on `session` only reads (an API request that has committed its change and
    renders the response). On SQLite its next transactions begin deferred, so they do not
    hold the write lock until the request's session is closed, which happens only after the
    response is sent: meanwhile the same event loop may be blocked waiting for that lock in
    another request. (A savepoint's release fires `after_commit` too: not the end of the
    change.)"""
    if session.in_nested_transaction():
        return
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.bind = bind.execution_options(deferred_begin=True)


def for_api(session: Session, read_only: bool = False) -> None:
    """An API request's session: on SQLite it waits `sqlite_api_busy_timeout` for the write
    lock (the request is then retried, or answered 503); a read-only request (GET) begins
    deferred, holding no write lock at all (in WAL mode readers never wait for writers)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        opts = {"busy_timeout_ms": _busy_ms(CONF.database.sqlite_api_busy_timeout)}
        if read_only:
            opts["deferred_begin"] = True
        session.bind = bind.execution_options(**opts)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={
            "check_same_thread": False, "timeout": CONF.database.sqlite_busy_timeout})
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin_immediate)
        return eng
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def configure(url: str) -> Engine:
    global _engine, _factory
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    _factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def engine() -> Engine:
    assert _engine is not None, "db.session.configure() was not called"
    return _engine


def new_session() -> Session:
    assert _factory is not None, "db.session.configure() was not called"
    return _factory()


@contextmanager
def transaction() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    s = new_session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()

"""Engine and session handling. One engine per process; SQLite gets WAL and a busy timeout so
the API, the worker and the health manager threads can share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # SQLAlchemy emits BEGIN itself (below): the driver must not open transactions of its own.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is safe against corruption and against a crash of octolb; only an
    # OS crash or power loss can undo the last commits. One fsync per commit (FULL) does not
    # keep up with the heartbeats of hundreds of amphorae.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:
    """Take SQLite's write lock when a transaction starts, so a busy database makes it wait
    (busy_timeout). A deferred transaction that reads and then writes after another one
    committed fails at once with "database is locked", whatever the timeout.

    A connection with the `deferred_begin` option (see `reads_only`) begins deferred: it
    only reads, and must not take the write lock."""
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("deferred_begin")
                         else "BEGIN IMMEDIATE")


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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
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

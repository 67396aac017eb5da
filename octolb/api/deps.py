"""Per-request dependencies: a database session and the bus."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy import event
from sqlalchemy.orm import Session

from octolb.db.session import new_session, reads_only


def db(request: Request) -> Iterator[Session]:
    s = new_session()
    event.listen(s, "after_commit", reads_only)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def notify(request: Request, lb_id: str) -> None:
    request.app.state.bus.notify(lb_id)

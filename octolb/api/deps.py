"""Per-request dependencies: a database session and the bus."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy import event
from sqlalchemy.orm import Session

from octolb.db.session import for_api, new_session, reads_only

# Set in the ASGI scope by the retry layer (api/errors.py): whether this attempt of the
# request has committed a change, in which case it is not run again.
DB_STATE = "octolb.db"
READ_METHODS = ("GET", "HEAD")


def db(request: Request) -> Iterator[Session]:
    s = new_session()
    for_api(s, read_only=request.method in READ_METHODS)
    state = request.scope.get(DB_STATE)

    def committed(session: Session) -> None:
        if state is not None and not session.in_nested_transaction():
            state["committed"] = True
        reads_only(session)

    event.listen(s, "after_commit", committed)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def notify(request: Request, lb_id: str) -> None:
    request.app.state.bus.notify(lb_id)

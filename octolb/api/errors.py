"""Octavia-style API errors: `{"faultcode", "faultstring", "debuginfo"}` bodies; a request
that failed on a database lock conflict is run again, or answered 503 (never 500)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from octolb.api.deps import DB_STATE
from octolb.config import CONF
from octolb.db.session import is_retriable, retry_delay

LOG = logging.getLogger(__name__)
DB_BUSY = "The database is busy; retry the request."
RETRY_AFTER = "2"


class APIError(Exception):
    status = 400

    def __init__(self, faultstring: str, status: int | None = None):
        super().__init__(faultstring)
        self.faultstring = faultstring
        if status is not None:
            self.status = status


class BadRequest(APIError):
    status = 400


class ValidationFailure(APIError):
    status = 400

    def __init__(self, detail: str):
        super().__init__(f"Validation failure: {detail}")


class InvalidOption(APIError):
    status = 400

    def __init__(self, value, option: str):
        super().__init__(f"{value} is not a valid option for {option}")


class Forbidden(APIError):
    status = 403

    def __init__(self, faultstring: str = "Policy does not allow this request to be performed."):
        super().__init__(faultstring)


class NotFound(APIError):
    status = 404

    def __init__(self, resource: str, id_: str):
        super().__init__(f"{resource} {id_} not found.")


class Conflict(APIError):
    status = 409


class Immutable(Conflict):
    def __init__(self, resource: str, id_: str):
        super().__init__(f"{resource} {id_} is immutable and cannot be updated.")


class InvalidState(Conflict):
    def __init__(self, status: str, lb_id: str):
        super().__init__(f"Invalid state {status} of loadbalancer resource {lb_id}")


class NotImplementedByProvider(APIError):
    status = 501

    def __init__(self, detail: str, provider: str = "amphora"):
        super().__init__(
            f"Provider '{provider}' does not support a requested option: {detail}")


def fault_body(status: int, faultstring: str) -> dict:
    return {"faultcode": "Client" if status < 500 else "Server",
            "faultstring": faultstring, "debuginfo": None}


def fault(status: int, faultstring: str) -> JSONResponse:
    return JSONResponse(fault_body(status, faultstring), status_code=status)


def db_busy() -> JSONResponse:
    resp = fault(503, DB_BUSY)
    resp.headers["Retry-After"] = RETRY_AFTER
    return resp


class RetryOnDatabaseBusy:
    """Runs a request again when it failed on a lock conflict (SQLite busy, MySQL deadlock
    or lock wait timeout, PostgreSQL serialization failure or deadlock) before committing
    anything and before its response started: the request is then the whole transaction,
    rolled back, so running it again is safe. Up to `[database] db_max_retries` times, with
    a growing pause that lets the event loop run (other requests finish and release their
    locks); then, or when a change was already committed, 503 with Retry-After."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        retries = CONF.database.db_max_retries
        attempt = 0
        while True:
            state = {"committed": False}
            started = body_given = False

            async def replay() -> Message:
                nonlocal body_given
                if not body_given:
                    body_given = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def tracked_send(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            try:
                await self.app({**scope, DB_STATE: state}, replay, tracked_send)
                return
            except Exception as exc:
                if started or not is_retriable(exc):
                    raise
                if state["committed"] or attempt >= retries:
                    LOG.warning("%s %s: database busy after %d attempt(s)%s: %s; answered 503",
                                scope.get("method"), scope.get("path"), attempt + 1,
                                " (a change was committed)" if state["committed"] else "",
                                getattr(exc, "orig", exc))
                    await db_busy()(scope, receive, send)
                    return
                attempt += 1
                delay = retry_delay(attempt)
                LOG.info("%s %s: database busy (%s); retry %d of %d in %.2fs",
                         scope.get("method"), scope.get("path"), getattr(exc, "orig", exc),
                         attempt, retries, delay)
                await asyncio.sleep(delay)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def install(app: FastAPI) -> None:
    app.add_middleware(RetryOnDatabaseBusy)

    @app.exception_handler(APIError)
    async def _api_error(_req: Request, exc: APIError):
        return fault(exc.status, exc.faultstring)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        # Only reached for query/path parameters; bodies are parsed by api.parse.
        errs = exc.errors()
        loc = ".".join(str(p) for p in errs[0]["loc"][1:]) if errs else "?"
        return fault(400, f"Invalid input for field/attribute {loc}. {errs[0]['msg']}"
                     if errs else "Invalid input")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        # Router errors (unknown path / method) are not API faults in Octavia either, but a
        # JSON body with a faultstring is still the most useful thing to send.
        return fault(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception):
        if is_retriable(exc):  # not retried (e.g. raised after the response started)
            LOG.warning("database busy: %s; answered 503", getattr(exc, "orig", exc))
            return db_busy()
        LOG.exception("unexpected error")
        return fault(500, "An unexpected error occurred; see the octolb log.")

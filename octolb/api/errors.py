"""Octavia-style API errors: `{"faultcode", "faultstring", "debuginfo"}` bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

LOG = logging.getLogger(__name__)


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


def install(app: FastAPI) -> None:
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
        LOG.exception("unexpected error")
        return fault(500, "An unexpected error occurred; see the octolb log.")

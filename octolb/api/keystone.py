"""`[api_settings] auth_strategy = keystone`: keystonemiddleware's `auth_token` in front of the
API, as in Octavia.

`auth_token` is a WSGI middleware and the API is an ASGI app. Only the request's headers
matter to it (it strips any identity headers a client sent, validates `X-Auth-Token` against
Keystone, and sets `X-Project-Id`, `X-Roles`, `X-User-Id`, ... for `octolb.api.auth`), so
each request's headers are handed to it as a WSGI environ, in a worker thread (token
validation calls Keystone): when it answers by itself (401, or 503 when Keystone cannot be
reached) that answer is sent; otherwise the request goes on to the API with the headers
`auth_token` left. The body never goes through WSGI.

Its options are read from `[keystone_authtoken]` of octolb's own configuration (the
`oslo_config_config` hook of keystonemiddleware registers them on `octolb.config.CONF`).
The version document at `/` stays unauthenticated, as Octavia's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from octolb.config import CONF

LOG = logging.getLogger(__name__)

# Paths served without a token (Octavia leaves its version discovery open).
PUBLIC_PATHS = frozenset({"/"})

_PASSED = "octolb.keystone.passed"


def _wsgi_key(name: str) -> str:
    name = name.upper().replace("-", "_")
    if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return name
    return "HTTP_" + name


def _header_name(key: str) -> str:
    return key[5:].replace("_", "-").title() if key.startswith("HTTP_") else \
        key.replace("_", "-").title()


def _environ(scope: dict) -> dict[str, Any]:
    server = scope.get("server") or ("127.0.0.1", 80)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": None,
        "wsgi.errors": None,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        key = _wsgi_key(raw_name.decode("latin-1"))
        value = raw_value.decode("latin-1")
        env[key] = f"{env[key]},{value}" if key in env else value
    return env


def _headers(env: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if isinstance(v, str) and (k.startswith("HTTP_") or k in ("CONTENT_TYPE",
                                                                       "CONTENT_LENGTH"))}


class KeystoneAuth:
    """ASGI middleware running keystonemiddleware's `AuthProtocol` over each request's
    headers."""

    def __init__(self, app: Callable, conf: dict[str, Any] | None = None) -> None:
        from keystonemiddleware import auth_token

        self.app = app

        def passed(environ, start_response):
            environ[_PASSED] = True
            start_response("204 No Content", [])
            return [b""]

        self.protocol = auth_token.AuthProtocol(
            passed, {"oslo_config_config": CONF, **(conf or {})})

    def _check(self, env: dict[str, Any]) -> tuple[bool, int, list[tuple[bytes, bytes]], bytes]:
        out: dict[str, Any] = {}

        def start_response(status, headers, exc_info=None):
            out["status"], out["headers"] = status, headers

        body = b"".join(self.protocol(env, start_response))
        if env.get(_PASSED):
            return True, 0, [], b""
        status = int(out["status"].split()[0])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                   for k, v in out["headers"] if k.lower() != "content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        return False, status, headers, body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        env = _environ(scope)
        before = _headers(env)
        ok, status, headers, body = await run_in_threadpool(self._check, env)
        if not ok:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        after = _headers(env)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        gone = before.keys() - after.keys()
        kept = [(n, v) for n, v in scope["headers"]
                if _wsgi_key(n.decode("latin-1")) not in gone | changed.keys()]
        added = [(_header_name(k).lower().encode("latin-1"), v.encode("latin-1"))
                 for k, v in changed.items()]
        await self.app({**scope, "headers": kept + added}, receive, send)


def wrap(app: Callable) -> Callable:
    """The API as `[api_settings] auth_strategy` wants it served."""
    if CONF.api_settings.auth_strategy != "keystone":
        return app
    return KeystoneAuth(app)

"""octolb.api.keystone's plumbing between the ASGI app and auth_token's WSGI code, with a
stand-in for auth_token (tests/integration/test_keystone.py runs the real one against a real
Keystone): what it strips and sets reaches the app, its own answers reach the client, the
body is untouched, `/` is never checked."""

from __future__ import annotations

import json

import pytest
from keystonemiddleware import auth_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from octolb.api import keystone


class FakeAuthProtocol:
    """Valid token `good`: drops the client's X-Project-Id, sets the token's; anything else:
    401 with a WWW-Authenticate header, as auth_token does."""

    calls: list[str] = []

    def __init__(self, app, conf):
        assert "oslo_config_config" in conf
        self.app = app

    def __call__(self, environ, start_response):
        FakeAuthProtocol.calls.append(environ["PATH_INFO"])
        environ.pop("HTTP_X_PROJECT_ID", None)
        if environ.get("HTTP_X_AUTH_TOKEN") != "good":
            body = b'{"error": {"code": 401}}'
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("WWW-Authenticate", 'Keystone uri="k"')])
            return [body]
        environ["HTTP_X_PROJECT_ID"] = "from-token"
        environ["HTTP_X_ROLES"] = "member,reader"
        return self.app(environ, start_response)


async def echo(request: Request):
    return JSONResponse({"headers": dict(request.headers),
                         "body": (await request.body()).decode(),
                         "query": request.url.query})


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setattr(auth_token, "AuthProtocol", FakeAuthProtocol)
    FakeAuthProtocol.calls = []
    app = Starlette(routes=[Route("/{p:path}", echo, methods=["GET", "POST"])])
    return TestClient(keystone.KeystoneAuth(app))


def test_the_token_identity_replaces_the_clients_headers(client):
    r = client.post("/v2/lbaas/loadbalancers?limit=1", content=json.dumps({"a": 1}),
                    headers={"X-Auth-Token": "good", "X-Project-Id": "forged",
                             "Content-Type": "application/json"})
    assert r.status_code == 200
    seen = r.json()
    assert seen["headers"]["x-project-id"] == "from-token"
    assert seen["headers"]["x-roles"] == "member,reader"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["body"] == '{"a": 1}' and seen["query"] == "limit=1"
    assert list(r.json()["headers"]).count("x-project-id") == 1


def test_auth_tokens_own_answer_is_sent(client):
    r = client.get("/v2/lbaas/loadbalancers", headers={"X-Project-Id": "forged"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Keystone uri="k"'
    assert r.json() == {"error": {"code": 401}}


def test_the_version_document_is_not_checked(client):
    assert client.get("/").status_code == 200
    assert FakeAuthProtocol.calls == []
    client.get("/v2")
    assert FakeAuthProtocol.calls == ["/v2"]


def test_noauth_leaves_the_app_unwrapped():
    app = Starlette()
    assert keystone.wrap(app) is app  # auth_strategy defaults to noauth

"""The agent's tenant TLS file endpoints (`/1.0/loadbalancer/<lb>/certificates/<name>`):
files land in the LB's directory with mode 0600 and go away with the LB."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid

import pytest

from octolb.amphora.agent.haproxy import HAProxyManager
from octolb.amphora.agent.server import AgentApp

LB = str(uuid.uuid4())
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def app(tmp_path):
    return AgentApp(HAProxyManager(tmp_path, "/usr/sbin/haproxy", str(uuid.uuid4())),
                    tmp_path / "server.pem")


def test_upload_stores_file_0600_in_the_lb_directory(app, tmp_path):
    r = app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/abc123.pem", PEM)
    assert r.status == 200 and json.loads(r.body) == {"message": "OK"}
    assert r.headers["ETag"] == hashlib.md5(PEM).hexdigest()
    path = tmp_path / LB / "abc123.pem"
    assert path.read_bytes() == PEM
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = app.handle("GET", f"/1.0/loadbalancer/{LB}/certificates/abc123.pem", b"")
    assert json.loads(r.body) == {"md5sum": hashlib.md5(PEM).hexdigest()}


def test_missing_certificate_is_404_and_delete_is_idempotent(app, tmp_path):
    assert app.handle("GET", f"/1.0/loadbalancer/{LB}/certificates/x.pem", b"").status == 404
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/x.pem", PEM)
    for _ in range(2):
        r = app.handle("DELETE", f"/1.0/loadbalancer/{LB}/certificates/x.pem", b"")
        assert r.status == 200
    assert not (tmp_path / LB / "x.pem").exists()


@pytest.mark.parametrize("name", ["x.crt", "..pem", "a%2F..%2Fb.pem", ".hidden.pem"])
def test_bad_file_names_are_refused(app, tmp_path, name):
    r = app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/{name}", PEM)
    assert r.status == 400
    assert not (tmp_path / LB).exists() or not any((tmp_path / LB).iterdir())


def test_certificates_go_away_with_the_load_balancer(app, tmp_path):
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/x.pem", PEM)
    assert app.handle("DELETE", f"/1.0/listeners/{LB}", b"").status == 200
    assert not (tmp_path / LB).exists()

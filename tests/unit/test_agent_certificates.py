"""The agent's tenant TLS file endpoints (`/1.0/loadbalancer/<lb>/certificates/<name>`):
files land in the LB's directory with mode 0600 and go away with the LB."""

from __future__ import annotations

import hashlib
import json
import stat
import time
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


def _config(d, lis: str) -> bytes:
    return (f"frontend {lis}\n    bind 127.0.0.1:443 ssl crt-list {d}/{lis}.pem "
            f"ca-file {d}/ca.pem verify required crl-file {d}/crl.pem\n"
            f"backend pool\n    server m1 127.0.0.1:8443 ssl crt {d}/client.pem "
            f"ca-file {d}/member-ca.pem verify required\n").encode()


def test_unused_tls_files_are_those_no_configuration_or_crt_list_names(app, tmp_path):
    lis = str(uuid.uuid4())
    d = tmp_path / LB
    for name in ("www.pem", "old.pem", "ca.pem", "crl.pem", "client.pem", "member-ca.pem",
                 "stale-ca.pem"):
        app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/{name}", PEM)
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/{lis}.pem",
               f"{d}/www.pem\n".encode())
    (d / "haproxy.cfg").write_bytes(_config(d, lis))
    haproxy = app.haproxy
    assert haproxy.unused_tls_files(LB) == ["old.pem", "stale-ca.pem"]

    haproxy._remove_unused_tls_files(LB, time.time_ns())
    assert sorted(p.name for p in d.glob("*.pem")) == sorted(
        ["www.pem", "ca.pem", "crl.pem", "client.pem", "member-ca.pem", f"{lis}.pem"])
    assert (d / "haproxy.cfg").exists()


def test_files_written_since_the_apply_began_stay(app, tmp_path):
    lis = str(uuid.uuid4())
    d = tmp_path / LB
    began = time.time_ns() - 10**9  # uploaded after the apply began: the next config's
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/next.pem", PEM)
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/{lis}.pem", f"{d}/x.pem\n".encode())
    (d / "haproxy.cfg").write_bytes(_config(d, lis))
    app.haproxy._remove_unused_tls_files(LB, began)
    assert (d / "next.pem").exists()


@pytest.mark.parametrize("crt_list", ["www.pem\n", "/elsewhere/www.pem\n", None])
def test_nothing_is_unused_when_the_files_in_use_cannot_be_told(app, tmp_path, crt_list):
    lis = str(uuid.uuid4())
    d = tmp_path / LB
    app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/www.pem", PEM)
    if crt_list is not None:
        app.handle("PUT", f"/1.0/loadbalancer/{LB}/certificates/{lis}.pem", crt_list.encode())
    (d / "haproxy.cfg").write_bytes(_config(d, lis))
    assert app.haproxy.unused_tls_files(LB) is None
    # a configuration naming TLS files by another directory's path
    (d / "haproxy.cfg").write_bytes(_config("/other/dir", lis))
    assert app.haproxy.unused_tls_files(LB) is None

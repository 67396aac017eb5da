"""TERMINATED_HTTPS through real HAProxy: certificates stored in the built-in key manager,
served by the amphora, verified by the client against the test CA and the SNI name; SNI,
X-Forwarded-Proto, TLS versions, client-certificate authentication; and the stock CLI flow
(`openstack secret store` then `openstack loadbalancer listener create ...`); and a pool
that re-encrypts to a member which demands the load balancer's client certificate."""

from __future__ import annotations

import base64
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests import tlsgen
from tests.e2e.dataplane import Cloud, HTTPBackend
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import free_port, wait_until

KM = "/key-manager/v1"
WWW, API = "www.example.test", "api.example.test"


@pytest.fixture(scope="module")
def pki():
    server_ca, client_ca = tlsgen.ca("server CA"), tlsgen.ca("client CA")
    return {"server_ca": server_ca, "client_ca": client_ca,
            "www": tlsgen.leaf(server_ca, WWW, [WWW]), "api": tlsgen.leaf(server_ca, API, [API]),
            "client": tlsgen.leaf(client_ca, "alice", client=True),
            "bob": tlsgen.leaf(client_ca, "bob", client=True),
            "stranger": tlsgen.leaf(tlsgen.ca("other CA"), "mallory", client=True)}


@pytest.fixture(scope="module")
def files(pki):
    d = Path(tempfile.mkdtemp(prefix="octolb-tls-"))
    (d / "server-ca.pem").write_bytes(pki["server_ca"].cert_pem)
    for who in ("client", "stranger", "bob"):
        (d / f"{who}.pem").write_bytes(pki[who].cert_pem + pki[who].key_pem())
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def store(cloud: Cloud, payload: bytes) -> str:
    r = cloud.o.api("POST", f"{KM}/secrets", json={
        "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    assert r.status_code == 201, r.text
    return r.json()["secret_ref"]


@pytest.fixture(scope="module")
def site(cloud: Cloud, pki):  # noqa: F811
    """One LB with an HTTP pool (one recording member) for every listener of this module."""
    member = HTTPBackend("m").start()
    try:
        lb = cloud.lb()
        pool = cloud._create(lb["id"], "pools", "pool", {
            "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
        cloud.member(lb, pool, member)
        refs = {k: store(cloud, pki[k].pkcs12()) for k in ("www", "api")}
        refs["client_ca"] = store(cloud, pki["client_ca"].cert_pem)
        yield {"lb": lb, "pool": pool, "member": member, "refs": refs}
    finally:
        member.stop()


def context(files: Path, client: str | None = None, max_version=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(files / "server-ca.pem"))
    if client:
        ctx.load_cert_chain(str(files / f"{client}.pem"))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def https_get(host: str, port: int, ctx: ssl.SSLContext, sni: str
              ) -> tuple[int, str, str]:
    """(status, body, CN of the certificate the server presented) of one GET."""
    with socket.create_connection((host, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as s:
        cert = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        s.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(), cn


def terminated_listener(cloud: Cloud, site: dict, port: int, **kw) -> dict:  # noqa: F811
    return cloud.listener(site["lb"], "TERMINATED_HTTPS", port,
                          default_pool_id=site["pool"]["id"], **kw)


def serving(host: str, port: int, ctx: ssl.SSLContext, sni: str = WWW) -> None:
    def ok():
        try:
            return https_get(host, port, ctx, sni)[0] == 200
        except OSError:
            return False
    wait_until(ok, 20, interval=0.1, what=f"https://{host}:{port} serving")


def test_default_certificate_sni_and_forwarded_proto(cloud: Cloud, site, files):  # noqa: F811
    lis = terminated_listener(cloud, site, 8443,
                              default_tls_container_ref=site["refs"]["www"],
                              sni_container_refs=[site["refs"]["api"]],
                              insert_headers={"X-Forwarded-Proto": "true"})
    vip = site["lb"]["vip_address"]
    ctx = context(files)
    serving(vip, 8443, ctx)
    assert https_get(vip, 8443, ctx, WWW) == (200, "m", WWW)
    assert https_get(vip, 8443, ctx, API) == (200, "m", API)  # SNI picks the second
    assert site["member"].requests("/")[-1].headers["x-forwarded-proto"] == "https"
    # an unknown name gets the default certificate, which the client then refuses
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(vip, 8443, ctx, "unknown.example.test")
    cfg = cloud.rendered_configs()
    assert "crt-list" in cfg and "BEGIN" not in cfg
    cert_files = list((cloud.o.state_dir / "amphorae").rglob(f"{lis['id']}.pem"))
    assert cert_files and all(p.stat().st_mode & 0o077 == 0 for p in cert_files)


def tls_files(cloud: Cloud, lb_id: str) -> dict[str, bytes]:  # noqa: F811
    """The tenant TLS files the amphorae hold for a load balancer, by name."""
    return {p.name: p.read_bytes()
            for p in (cloud.o.state_dir / "amphorae").rglob(f"{lb_id}/*.pem")}


def test_replaced_certificate_file_goes_once_the_new_one_serves(cloud: Cloud, site, pki,  # noqa: F811
                                                                 files):
    old, new = (tlsgen.leaf(pki["server_ca"], cn, [WWW]) for cn in ("www-old", "www-new"))
    lb_id, vip = site["lb"]["id"], site["lb"]["vip_address"]
    lis = terminated_listener(cloud, site, 8449,
                              default_tls_container_ref=store(cloud, old.pkcs12()))
    serving(vip, 8449, context(files))
    assert https_get(vip, 8449, context(files), WWW)[2] == "www-old"
    (old_file,) = [n for n, data in tls_files(cloud, lb_id).items() if old.cert_pem in data]

    cloud.update(lb_id, f"listeners/{lis['id']}", "listener",
                 {"default_tls_container_ref": store(cloud, new.pkcs12())})
    wait_until(lambda: https_get(vip, 8449, context(files), WWW)[2] == "www-new", 20,
               interval=0.1, what="the new certificate served")
    held = tls_files(cloud, lb_id)
    assert old_file not in held  # removed once HAProxy runs the configuration without it
    assert [n for n, data in held.items() if new.cert_pem in data]
    assert f"{lis['id']}.pem" in held  # the crt-list, now naming the new file
    named = "".join(cloud.rendered_configs()) + b"".join(held.values()).decode(errors="replace")
    for name in held:  # nothing left that no configuration or crt-list names
        assert name in named, name


def test_tls_versions_without_tls12_refuse_a_tls12_client(cloud: Cloud, site, files):  # noqa: F811
    terminated_listener(cloud, site, 8444, default_tls_container_ref=site["refs"]["www"],
                        tls_versions=["TLSv1.3"])
    vip = site["lb"]["vip_address"]
    serving(vip, 8444, context(files))
    with pytest.raises(ssl.SSLError):
        https_get(vip, 8444, context(files, max_version=ssl.TLSVersion.TLSv1_2), WWW)
    assert https_get(vip, 8444, context(files), WWW)[0] == 200


def test_mandatory_client_authentication(cloud: Cloud, site, files):  # noqa: F811
    terminated_listener(cloud, site, 8445, default_tls_container_ref=site["refs"]["www"],
                        client_ca_tls_container_ref=site["refs"]["client_ca"],
                        client_authentication="MANDATORY",
                        insert_headers={"X-SSL-Client-CN": "true",
                                        "X-SSL-Client-Verify": "true"})
    vip = site["lb"]["vip_address"]
    serving(vip, 8445, context(files, "client"))
    status, body, _ = https_get(vip, 8445, context(files, "client"), WWW)
    assert (status, body) == (200, "m")
    seen = site["member"].requests("/")[-1].headers
    assert seen["x-ssl-client-cn"].strip('"') == "alice" and seen["x-ssl-client-verify"] == "0"
    for client in (None, "stranger"):  # no certificate, or one of another CA
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https_get(vip, 8445, context(files, client), WWW)


def test_l7_rules_on_the_client_certificate(cloud: Cloud, site, files):  # noqa: F811
    """SSL_CONN_HAS_CERT and SSL_DN_FIELD route on the client's certificate (OPTIONAL client
    authentication: a client may come without one)."""
    lis = terminated_listener(cloud, site, 8447, default_tls_container_ref=site["refs"]["www"],
                              client_ca_tls_container_ref=site["refs"]["client_ca"],
                              client_authentication="OPTIONAL")
    lb_id = site["lb"]["id"]
    no_cert = cloud._create(lb_id, "l7policies", "l7policy", {
        "listener_id": lis["id"], "action": "REJECT", "position": 1})
    cloud._create(lb_id, f"l7policies/{no_cert['id']}/rules", "rule", {
        "type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True",
        "invert": True})
    alice = cloud._create(lb_id, "l7policies", "l7policy", {
        "listener_id": lis["id"], "action": "REDIRECT_TO_URL", "position": 2,
        "redirect_url": "https://alice.example.test/", "redirect_http_code": 307})
    cloud._create(lb_id, f"l7policies/{alice['id']}/rules", "rule", {
        "type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "CN", "value": "alice"})
    vip = site["lb"]["vip_address"]
    wait_until(lambda: https_get(vip, 8447, context(files, "client"), WWW)[0] == 307, 20,
               interval=0.1, what="the CN policy applied")
    assert https_get(vip, 8447, context(files), WWW)[0] == 403  # no certificate: rejected
    # a certificate whose CN is not alice: neither policy matches, the pool answers
    ctx = context(files)
    ctx.load_cert_chain(str(files / "bob.pem"))
    assert https_get(vip, 8447, ctx, WWW)[:2] == (200, "m")
    # SSL_VERIFY_RESULT: the verification result of the client's certificate (0 = verified)
    verified = cloud._create(lb_id, "l7policies", "l7policy", {
        "listener_id": lis["id"], "action": "REDIRECT_TO_URL", "position": 3,
        "redirect_url": "https://verified.example.test/", "redirect_http_code": 302})
    rule = cloud._create(lb_id, f"l7policies/{verified['id']}/rules", "rule", {
        "type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"})
    wait_until(lambda: https_get(vip, 8447, ctx, WWW)[0] == 302, 20, interval=0.1,
               what="the verify-result policy applied to bob")
    cloud.update(lb_id, f"l7policies/{verified['id']}/rules/{rule['id']}", "rule",
                 {"value": "1"})
    wait_until(lambda: https_get(vip, 8447, ctx, WWW)[0] == 200, 20, interval=0.1,
               what="verify result 1 matches no verified client")


def test_stock_cli_secret_store_then_terminated_https_listener(cloud: Cloud, site, pki,  # noqa: F811
                                                               files):
    p12 = base64.b64encode(pki["api"].pkcs12()).decode()
    secret = cloud.o.openstack("secret", "store", "--name", "cert1", "-t",
                               "application/octet-stream", "-e", "base64", "--payload", p12)
    href = secret["Secret href"]
    assert "/key-manager/v1/secrets/" in href
    lb_id = site["lb"]["id"]
    cloud.o.openstack("loadbalancer", "listener", "create", "--protocol", "TERMINATED_HTTPS",
                      "--protocol-port", "8446", "--default-tls-container-ref", href,
                      "--default-pool", site["pool"]["id"], "--name", "cli-tls", lb_id)
    cloud.wait_active(lb_id)
    vip = site["lb"]["vip_address"]
    serving(vip, 8446, context(files), API)
    assert https_get(vip, 8446, context(files), API) == (200, "m", API)
    (shown,) = cloud.get("listeners?name=cli-tls")["listeners"]
    assert shown["default_tls_container_ref"] == href
    assert shown["protocol"] == "TERMINATED_HTTPS"


class TLSMember:
    """An HTTPS member with a certificate from `server`, requiring a client certificate
    from `client_ca`; answers with the CN of the client certificate it was shown."""

    def __init__(self, server: tlsgen.Pair, client_ca: tlsgen.Pair, directory: Path) -> None:
        self.port = free_port()
        pem = directory / "member.pem"
        pem.write_bytes(server.cert_pem + server.key_pem())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pem))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.cert_pem.decode())

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                subject = dict(x[0] for x in self.connection.getpeercert()["subject"])
                body = subject["commonName"].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pool_reencrypts_with_client_certificate_and_verifies_member(cloud: Cloud, files):  # noqa: F811
    member_ca, lb_ca = tlsgen.ca("member CA"), tlsgen.ca("lb client CA")
    member = TLSMember(tlsgen.leaf(member_ca, "member.test", ["member.test"]), lb_ca, files)
    try:
        lb = cloud.lb()
        lis = cloud.listener(lb, "HTTP", 8080)
        pool = cloud.pool(lb, lis, "HTTP", tls_enabled=True,
                          tls_container_ref=store(cloud, tlsgen.leaf(
                              lb_ca, "octolb-lb", client=True).pkcs12()),
                          ca_tls_container_ref=store(cloud, member_ca.cert_pem))
        cloud._create(lb["id"], f"pools/{pool['id']}/members", "member", {
            "address": "127.0.0.1", "protocol_port": member.port})
        url = f"http://{lb['vip_address']}:8080/"

        def answer():
            try:
                r = httpx.get(url, timeout=5)
            except httpx.HTTPError:
                return None
            return r if r.status_code == 200 else None
        r = wait_until(answer, 20, interval=0.1, what="re-encrypted pool serving")
        assert r.text == "octolb-lb"  # the member saw the pool's client certificate
        # a CA that did not sign the member's certificate: HAProxy refuses the member
        cloud.update(lb["id"], f"pools/{pool['id']}", "pool", {
            "ca_tls_container_ref": store(cloud, tlsgen.ca("unrelated CA").cert_pem)})
        wait_until(lambda: httpx.get(url, timeout=5).status_code == 503, 20, interval=0.1,
                   what="member refused after the CA change")
    finally:
        member.stop()

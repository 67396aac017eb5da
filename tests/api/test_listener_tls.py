"""TERMINATED_HTTPS listeners: TLS references from the built-in key manager and the TLS
validations of octavia-v2-api §9.2.2, on create and update."""

from __future__ import annotations

import base64

import pytest

from tests import tlsgen
from tests.api.conftest import settle

KM = "/key-manager/v1"


@pytest.fixture(scope="module")
def pki():
    root = tlsgen.ca("server CA")
    client_ca = tlsgen.ca("client CA")
    return {"root": root, "client_ca": client_ca,
            "www": tlsgen.leaf(root, "www.example.test", ["www.example.test"]),
            "api": tlsgen.leaf(root, "api.example.test", ["api.example.test"])}


def secret(api, payload: bytes, headers=None) -> str:
    r = api.post(f"{KM}/secrets", headers=headers or {}, json={
        "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    assert r.status_code == 201, r.text
    return r.json()["secret_ref"]


@pytest.fixture
def refs(api, pki):
    return {"www": secret(api, pki["www"].pkcs12()), "api": secret(api, pki["api"].pkcs12()),
            "ca": secret(api, pki["client_ca"].cert_pem),
            "crl": secret(api, tlsgen.crl(pki["client_ca"]))}


def create(api, lb, **fields):
    body = {"loadbalancer_id": lb, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            **fields}
    return api.post("/v2/lbaas/listeners", json={"listener": body})


def fault(r, status=400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    return body["faultstring"]


def test_create_with_default_certificate_fills_tls_defaults(api, lb, refs):
    r = create(api, lb, default_tls_container_ref=refs["www"], sni_container_refs=[refs["api"]])
    assert r.status_code == 201, r.text
    lis = r.json()["listener"]
    assert lis["protocol"] == "TERMINATED_HTTPS"
    assert lis["default_tls_container_ref"] == refs["www"]
    assert lis["sni_container_refs"] == [refs["api"]]
    assert lis["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert lis["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert lis["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256:")
    assert "BEGIN" not in r.text


def test_certificate_container_works_as_a_reference(api, lb, pki):
    cert, key = secret(api, pki["www"].cert_pem), secret(api, pki["www"].key_pem())
    c = api.post(f"{KM}/containers", json={"type": "certificate", "secret_refs": [
        {"name": "certificate", "secret_ref": cert}, {"name": "private_key", "secret_ref": key}]})
    r = create(api, lb, default_tls_container_ref=c.json()["container_ref"])
    assert r.status_code == 201, r.text


def test_server_certificate_is_required(api, lb):
    assert "An SNI or default certificate container reference must be provided for " \
           "TERMINATED_HTTPS" in fault(create(api, lb))


def test_client_ca_without_server_certificate(api, lb, refs):
    assert "must be provided with a client CA" in fault(
        create(api, lb, client_ca_tls_container_ref=refs["ca"]))


def test_unreadable_pkcs12_is_400(api, lb):
    ref = secret(api, b"definitely not pkcs12")
    assert "PKCS12 bundle is unreadable" in fault(create(api, lb, default_tls_container_ref=ref))


def test_reference_of_another_project_cannot_be_used(api, lb, pki):
    theirs = secret(api, pki["www"].pkcs12(), headers={"X-Project-Id": "someone-else"})
    msg = fault(create(api, lb, default_tls_container_ref=theirs))
    assert msg.startswith("Could not retrieve certificate: [")
    assert theirs in msg


def test_unknown_and_foreign_references(api, lb, refs):
    missing = refs["www"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert "Could not retrieve certificate" in fault(
        create(api, lb, default_tls_container_ref=missing))
    assert "not reachable in this deployment" in fault(create(
        api, lb, default_tls_container_ref="https://barbican.example:9311/v1/secrets/x"))


def test_mismatched_key_in_a_container_is_400(api, lb, pki):
    cert, key = secret(api, pki["www"].cert_pem), secret(api, pki["api"].key_pem())
    c = api.post(f"{KM}/containers", json={"type": "certificate", "secret_refs": [
        {"name": "certificate", "secret_ref": cert}, {"name": "private_key", "secret_ref": key}]})
    assert "does not match" in fault(
        create(api, lb, default_tls_container_ref=c.json()["container_ref"]))


def test_client_authentication_needs_a_ca(api, lb, refs):
    assert "Client authentication setting MANDATORY requires a client CA" in fault(create(
        api, lb, default_tls_container_ref=refs["www"], client_authentication="MANDATORY"))


def test_crl_needs_a_ca_and_must_be_signed_by_it(api, lb, refs, pki):
    assert "A client authentication CA reference is required" in fault(create(
        api, lb, default_tls_container_ref=refs["www"], client_crl_container_ref=refs["crl"]))
    foreign_crl = secret(api, tlsgen.crl(pki["root"]))
    assert "not signed by the client CA" in fault(create(
        api, lb, default_tls_container_ref=refs["www"], client_ca_tls_container_ref=refs["ca"],
        client_crl_container_ref=foreign_crl))
    r = create(api, lb, default_tls_container_ref=refs["www"],
               client_ca_tls_container_ref=refs["ca"], client_crl_container_ref=refs["crl"],
               client_authentication="MANDATORY")
    assert r.status_code == 201, r.text
    assert r.json()["listener"]["client_authentication"] == "MANDATORY"


def test_client_ca_must_be_a_certificate(api, lb, refs):
    assert "client CA" in fault(create(api, lb, default_tls_container_ref=refs["www"],
                                       client_ca_tls_container_ref=secret(api, b"junk")))


@pytest.mark.parametrize("fields, status, words", [
    ({"tls_versions": []}, 400, "Empty TLS version list"),
    ({"tls_versions": ["TLSv9"]}, 400, "Invalid TLS versions"),
    ({"alpn_protocols": []}, 400, "Empty ALPN"),
    ({"alpn_protocols": ["spdy/3"]}, 501, "ALPN"),
    ({"tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256 DEFAULT"}, 400, "cipher string"),
    ({"hsts_preload": True}, 400, "HSTS configuration options"),
    ({"insert_headers": {"X-SSL-Client-Bogus": "true"}}, 400, "not a valid option"),
])
def test_tls_option_validation(api, lb, refs, fields, status, words):
    assert words in fault(create(api, lb, default_tls_container_ref=refs["www"], **fields),
                          status)


def test_minimum_tls_version_is_enforced(api, lb, refs):
    from octolb import config
    config.CONF.set_override("minimum_tls_version", "TLSv1.2", group="api_settings")
    try:
        assert "minimum" in fault(create(api, lb, default_tls_container_ref=refs["www"],
                                         tls_versions=["TLSv1.1", "TLSv1.2"]))
    finally:
        config.CONF.clear_override("minimum_tls_version", group="api_settings")


def test_prohibited_ciphers_are_refused(api, lb, refs):
    from octolb import config
    config.CONF.set_override("tls_cipher_prohibit_list", "RC4-SHA:DES-CBC3-SHA",
                             group="api_settings")
    try:
        assert "prohibited" in fault(create(api, lb, default_tls_container_ref=refs["www"],
                                            tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256:RC4-SHA"))
    finally:
        config.CONF.clear_override("tls_cipher_prohibit_list", group="api_settings")


def test_options_stored_and_ssl_headers_allowed(api, lb, refs):
    r = create(api, lb, default_tls_container_ref=refs["www"], tls_versions=["TLSv1.3"],
               alpn_protocols=["http/1.1"], tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
               hsts_max_age=3600, hsts_include_subdomains=True,
               insert_headers={"X-Forwarded-Proto": "true", "X-SSL-Client-CN": "true"})
    assert r.status_code == 201, r.text
    lis = r.json()["listener"]
    assert lis["tls_versions"] == ["TLSv1.3"] and lis["alpn_protocols"] == ["http/1.1"]
    assert lis["hsts_max_age"] == 3600 and lis["hsts_include_subdomains"] is True
    assert lis["insert_headers"]["X-SSL-Client-CN"] == "true"


def test_http_listener_refuses_tls_refs_hsts_and_ssl_headers(api, lb, refs):
    http = {"protocol": "HTTP", "protocol_port": 80}
    assert "Certificate container references are not allowed on HTTP" in fault(
        create(api, lb, default_tls_container_ref=refs["www"], **http))
    assert "HSTS feature can only be used" in fault(create(api, lb, hsts_max_age=5, **http))
    assert "not a valid option for HTTP protocol listener" in fault(
        create(api, lb, insert_headers={"X-SSL-Client-CN": "true"}, **http))


def test_pool_protocols_allowed_behind_terminated_https(api, lb, refs):
    def pool(protocol):
        r = api.post("/v2/lbaas/pools", json={"pool": {
            "loadbalancer_id": lb, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}})
        assert r.status_code == 201, r.text
        settle(lb)
        return r.json()["pool"]["id"]
    https_pool, http_pool = pool("HTTPS"), pool("HTTP")
    assert "The pool protocol 'HTTPS' is invalid while the listener protocol is " \
           "'TERMINATED_HTTPS'" in fault(create(api, lb, default_tls_container_ref=refs["www"],
                                                default_pool_id=https_pool))
    assert create(api, lb, default_tls_container_ref=refs["www"],
                  default_pool_id=http_pool).status_code == 201


def test_update_validates_against_the_stored_listener(api, lb, refs):
    r = create(api, lb, default_tls_container_ref=refs["www"])
    lid = r.json()["listener"]["id"]
    settle(lb)
    put = lambda **f: api.put(f"/v2/lbaas/listeners/{lid}", json={"listener": f})  # noqa: E731
    r = put(name="renamed")
    assert r.status_code == 200, r.text
    settle(lb)
    assert "must be provided for TERMINATED_HTTPS" in fault(put(default_tls_container_ref=None))
    assert "requires a client CA" in fault(put(client_authentication="OPTIONAL"))
    assert "Cannot enable hsts_include_subdomains" in fault(put(hsts_preload=True))
    assert "PKCS12 bundle is unreadable" in fault(
        put(sni_container_refs=[secret(api, b"junk")]))
    r = put(tls_versions=["TLSv1.3"], client_ca_tls_container_ref=refs["ca"],
            client_authentication="OPTIONAL", sni_container_refs=[refs["api"]])
    assert r.status_code == 200, r.text
    settle(lb)
    r = put(tls_versions=None)
    assert r.json()["listener"]["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert r.json()["listener"]["sni_container_refs"] == [refs["api"]]

"""Pools that re-encrypt to members: tls_enabled with a client certificate, CA and CRL
from the built-in key manager, and the TLS option rules of octavia-v2-api §9.3."""

from __future__ import annotations

import pytest

from tests import tlsgen
from tests.api.conftest import settle
from tests.api.test_listener_tls import fault, secret


@pytest.fixture(scope="module")
def pki():
    member_ca = tlsgen.ca("member CA")
    return {"member_ca": member_ca, "client": tlsgen.leaf(tlsgen.ca("lb CA"), "lb", client=True)}


def create(api, lb, **fields):
    return api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}})


def test_tls_enabled_pool_gets_default_options_and_refs(api, lb, pki):
    refs = {"tls_container_ref": secret(api, pki["client"].pkcs12()),
            "ca_tls_container_ref": secret(api, pki["member_ca"].cert_pem),
            "crl_container_ref": secret(api, tlsgen.crl(pki["member_ca"]))}
    r = create(api, lb, tls_enabled=True, **refs)
    assert r.status_code == 201, r.text
    pool = r.json()["pool"]
    assert pool["tls_enabled"] is True
    assert {k: pool[k] for k in refs} == refs
    assert pool["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert pool["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert pool["tls_ciphers"]


def test_pool_without_tls_has_no_tls_defaults(api, lb):
    pool = create(api, lb).json()["pool"]
    assert (pool["tls_enabled"], pool["tls_versions"], pool["alpn_protocols"],
            pool["tls_ciphers"]) == (False, None, None, None)


def test_pool_tls_reference_validation(api, lb, pki):
    assert "A CA certificate reference is required" in fault(create(
        api, lb, tls_enabled=True,
        crl_container_ref=secret(api, tlsgen.crl(pki["member_ca"]))))
    assert "PKCS12 bundle is unreadable" in fault(create(
        api, lb, tls_enabled=True, tls_container_ref=secret(api, b"junk")))
    assert "Could not retrieve certificate" in fault(create(
        api, lb, tls_enabled=True,
        ca_tls_container_ref=secret(api, pki["member_ca"].cert_pem,
                                    headers={"X-Project-Id": "not-mine"})))
    assert "the CRL is not signed by the CA" in fault(create(
        api, lb, tls_enabled=True, ca_tls_container_ref=secret(api, pki["member_ca"].cert_pem),
        crl_container_ref=secret(api, tlsgen.crl(tlsgen.ca("other")))))
    assert "Empty TLS version list" in fault(create(api, lb, tls_enabled=True, tls_versions=[]))
    assert "ALPN" in fault(create(api, lb, tls_enabled=True, alpn_protocols=["spdy"]), 501)


def test_pool_update_enables_tls_and_restores_defaults(api, lb, pki):
    pid = create(api, lb).json()["pool"]["id"]
    settle(lb)
    put = lambda **f: api.put(f"/v2/lbaas/pools/{pid}", json={"pool": f})  # noqa: E731
    r = put(tls_enabled=True, ca_tls_container_ref=secret(api, pki["member_ca"].cert_pem))
    assert r.status_code == 200, r.text
    settle(lb)
    assert "Invalid TLS versions" in fault(put(tls_versions=["TLSv0"]))
    r = put(tls_versions=None, alpn_protocols=None)
    assert r.json()["pool"]["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    settle(lb)
    assert "PKCS12 bundle is unreadable" in fault(put(tls_container_ref=secret(api, b"x")))

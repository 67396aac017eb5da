"""TLS material from key-manager payloads: PKCS12, PEM bundles and certificate containers
become PEM certificate + unencrypted key + intermediates, or a clear error."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from octolb.certs import tls
from tests import tlsgen


@pytest.fixture(scope="module")
def chain():
    root = tlsgen.ca("root")
    inter = tlsgen.ca("intermediate", issuer=root)
    server = tlsgen.leaf(inter, "www.example.test", ["www.example.test", "example.test"])
    return root, inter, server


def _key_matches(material: tls.TLSCertificate, pair: tlsgen.Pair) -> bool:
    key = serialization.load_pem_private_key(material.private_key, None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*spki) == pair.key.public_key().public_bytes(*spki)


def test_pkcs12_gives_pem_certificate_key_and_intermediates(chain):
    _root, inter, server = chain
    m = tls.parse_certificate_payload(server.pkcs12([inter]))
    assert x509.load_pem_x509_certificate(m.certificate) == server.cert
    assert _key_matches(m, server)
    assert b"ENCRYPTED" not in m.private_key
    assert [x509.load_pem_x509_certificate(i) for i in m.intermediates] == [inter.cert]
    assert m.primary_cn == "www.example.test"
    assert m.alt_names == ["www.example.test", "example.test"]


def test_pem_bundle_is_certificate_then_key_then_intermediates(chain):
    _root, inter, server = chain
    m = tls.parse_certificate_payload(server.pkcs12([inter]))
    bundle = m.pem_bundle()
    assert bundle.index(b"BEGIN CERTIFICATE") < bundle.index(b"BEGIN PRIVATE KEY")
    assert x509.load_pem_x509_certificates(bundle) == [server.cert, inter.cert]


def test_pkcs12_with_a_passphrase_is_unreadable(chain):
    _root, _inter, server = chain
    with pytest.raises(tls.UnreadablePKCS12, match="PKCS12 bundle is unreadable"):
        tls.parse_certificate_payload(server.pkcs12(passphrase=b"secret"))


def test_garbage_is_unreadable_pkcs12():
    with pytest.raises(tls.UnreadablePKCS12):
        tls.parse_certificate_payload(b"\x00\x01 this is not a bundle")


def test_container_with_encrypted_key_and_passphrase(chain):
    _root, inter, server = chain
    m = tls.parse_certificate_payload({
        "certificate": server.cert_pem, "private_key": server.key_pem(b"pw"),
        "private_key_passphrase": b"pw", "intermediates": inter.cert_pem})
    assert _key_matches(m, server)
    assert b"ENCRYPTED" not in m.private_key
    assert len(m.intermediates) == 1


def test_container_with_wrong_passphrase_is_refused(chain):
    _root, _inter, server = chain
    with pytest.raises(tls.UnreadableCertificate, match="private key"):
        tls.parse_container({"certificate": server.cert_pem,
                             "private_key": server.key_pem(b"pw"),
                             "private_key_passphrase": b"other"})


def test_container_with_encrypted_key_and_no_passphrase_is_refused(chain):
    _root, _inter, server = chain
    with pytest.raises(tls.UnreadableCertificate, match="passphrase"):
        tls.parse_container({"certificate": server.cert_pem,
                             "private_key": server.key_pem(b"pw")})


def test_mismatched_key_is_refused(chain):
    _root, inter, server = chain
    other = tlsgen.leaf(inter, "other.test")
    with pytest.raises(tls.KeyMismatch):
        tls.parse_container({"certificate": server.cert_pem, "private_key": other.key_pem()})
    bundle = server.cert_pem + other.key_pem()
    with pytest.raises(tls.KeyMismatch):
        tls.parse_certificate_payload(bundle)


def test_container_without_key_or_with_garbage_certificate(chain):
    _root, _inter, server = chain
    with pytest.raises(tls.UnreadableCertificate, match="private_key"):
        tls.parse_container({"certificate": server.cert_pem})
    with pytest.raises(tls.UnreadableCertificate, match="not PEM"):
        tls.parse_container({"certificate": b"hello", "private_key": server.key_pem()})
    with pytest.raises(tls.UnreadableCertificate):
        tls.parse_container({"certificate": b"-----BEGIN CERTIFICATE-----\nxx\n"
                                            b"-----END CERTIFICATE-----\n",
                             "private_key": server.key_pem()})


def test_client_ca_must_be_pem_certificates(chain):
    root, _inter, _server = chain
    assert tls.parse_ca(root.cert_pem) == root.cert_pem
    with pytest.raises(tls.UnreadableCertificate, match="client CA"):
        tls.parse_ca(b"not a certificate")


def test_crl_must_be_signed_by_the_client_ca(chain):
    root, inter, _server = chain
    good = tlsgen.crl(root)
    assert tls.parse_crl(good, root.cert_pem) == good
    with pytest.raises(tls.UnreadableCertificate, match="not signed"):
        tls.parse_crl(tlsgen.crl(inter), root.cert_pem)
    with pytest.raises(tls.UnreadableCertificate, match="not a PEM"):
        tls.parse_crl(b"garbage", root.cert_pem)


def test_material_repr_shows_no_key(chain):
    _root, _inter, server = chain
    m = tls.parse_certificate_payload(server.pkcs12())
    assert "PRIVATE" not in repr(m) and "www.example.test" in repr(m)


def test_file_names_are_sha1_of_content():
    assert tls.file_name(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d.pem"

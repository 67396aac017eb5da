"""The local CA: created once, then loaded; issues amphora certificates named by id."""

from __future__ import annotations

import ssl
import stat
import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from octolb.certs.local_ca import ensure_ca


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_ensure_ca_creates_ca_and_client_cert_with_private_modes(tmp_path):
    ca = ensure_ca(tmp_path / "ca")

    assert ca.ca_cert_path.is_file() and ca.client_cert_path.is_file()
    assert stat.S_IMODE(ca.ca_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.client_cert_path.stat().st_mode) == 0o600


def test_ensure_ca_is_idempotent(tmp_path):
    first = ensure_ca(tmp_path)
    ca_pem, client_pem = first.ca_cert_path.read_bytes(), first.client_cert_path.read_bytes()

    second = ensure_ca(tmp_path)

    assert second.ca_cert_path.read_bytes() == ca_pem
    assert second.client_cert_path.read_bytes() == client_pem


def test_client_cert_is_for_the_controller_and_client_auth_only(tmp_path):
    ca = ensure_ca(tmp_path)
    cert = _cert(ca.client_cert_path.read_bytes())

    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cn == "octolb-controller"
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(_cert(ca.ca_cert_path.read_bytes()))


def test_server_cert_is_named_by_amphora_id(tmp_path):
    ca = ensure_ca(tmp_path)
    amphora_id = str(uuid.uuid4())

    pem, _ = ca.issue_server_cert(amphora_id, 3600)
    cert = _cert(pem)

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == amphora_id
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [amphora_id]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_server_cert_verifies_against_the_ca(tmp_path):
    ca = ensure_ca(tmp_path)
    pem, _ = ca.issue_server_cert(str(uuid.uuid4()), 3600)

    _cert(pem).verify_directly_issued_by(_cert(ca.ca_cert_path.read_bytes()))


def test_server_pem_holds_cert_then_unencrypted_key_usable_by_ssl(tmp_path):
    ca = ensure_ca(tmp_path)
    pem, _ = ca.issue_server_cert(str(uuid.uuid4()), 3600)
    path = tmp_path / "server.pem"
    path.write_bytes(pem)

    assert pem.index(b"BEGIN CERTIFICATE") < pem.index(b"BEGIN PRIVATE KEY")
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(path)


def test_server_cert_expiry_is_returned_as_naive_utc_not_after(tmp_path):
    ca = ensure_ca(tmp_path)
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    pem, not_after = ca.issue_server_cert(str(uuid.uuid4()), 86400)

    assert not_after.tzinfo is None
    assert not_after == _cert(pem).not_valid_after_utc.replace(tzinfo=None)
    assert before + timedelta(days=1) <= not_after <= before + timedelta(days=1, minutes=1)

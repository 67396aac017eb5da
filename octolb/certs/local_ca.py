"""A local certificate authority for the controller <-> amphora agent mutual TLS.

One CA signs both sides: each amphora's server certificate (CN and DNS SAN = the
amphora id, which is what the controller verifies instead of the IP) and the
controller's client certificate (which every agent requires). Keys are EC P-256:
as safe as RSA 2048 for this purpose and much cheaper to generate per amphora.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
CLIENT_CERT_FILE = "client.pem"
CLIENT_COMMON_NAME = "octolb-controller"
CA_COMMON_NAME = "octolb local amphora CA"

CA_VALIDITY = timedelta(days=3650)
CLIENT_VALIDITY = timedelta(days=1825)
# Certificates start a little in the past so that small clock skew between
# controller hosts does not make a fresh certificate "not yet valid".
BACKDATE = timedelta(minutes=5)


class LocalCA:
    """A CA kept as PEM files in one directory; issues amphora server certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_cert_path = directory / CA_CERT_FILE
        self.ca_key_path = directory / CA_KEY_FILE
        self.client_cert_path = directory / CLIENT_CERT_FILE

    def _load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.ca_key_path} does not hold an EC private key")
        return cert, key

    def issue_server_cert(self, amphora_id: str, validity_seconds: int) -> tuple[bytes, datetime]:
        """Issue the agent's certificate: PEM of certificate then key, and notAfter (naive UTC)."""
        if validity_seconds <= 0:
            raise ValueError("validity_seconds must be positive")
        ca_cert, ca_key = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = _sign(
            subject=_name(amphora_id),
            public_key=key.public_key(),
            ca_cert=ca_cert,
            ca_key=ca_key,
            not_before=now - BACKDATE,
            not_after=now + timedelta(seconds=validity_seconds),
            eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            dns_name=amphora_id,
        )
        pem = cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key)
        return pem, cert.not_valid_after_utc.replace(tzinfo=None)


def ensure_ca(directory: Path) -> LocalCA:
    """Return the CA in ``directory``, creating the CA and the client certificate if missing.

    Safe to call concurrently from several controller processes: creation happens
    under an exclusive lock on ``<directory>/.lock``.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = LocalCA(directory)
    with _locked(directory / ".lock"):
        if not (ca.ca_cert_path.exists() and ca.ca_key_path.exists()):
            _create_ca(ca)
        if not ca.client_cert_path.exists():
            _create_client_cert(ca)
    return ca


def _create_ca(ca: LocalCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(CA_COMMON_NAME)
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    # Key first: a directory holding ca.pem without ca.key would be re-created.
    _write_atomic(ca.ca_key_path, _key_pem(key), 0o600)
    _write_atomic(ca.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    # A new CA invalidates any client certificate signed by an older one.
    ca.client_cert_path.unlink(missing_ok=True)


def _create_client_cert(ca: LocalCA) -> None:
    ca_cert, ca_key = ca._load()
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = _sign(
        subject=_name(CLIENT_COMMON_NAME),
        public_key=key.public_key(),
        ca_cert=ca_cert,
        ca_key=ca_key,
        not_before=now - BACKDATE,
        not_after=now + CLIENT_VALIDITY,
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        dns_name=None,
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key)
    _write_atomic(ca.client_cert_path, pem, 0o600)


def _sign(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    eku: list[x509.ObjectIdentifier],
    dns_name: str | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(eku), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns_name is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _serial() -> int:
    # 159 random bits: positive and within the 20-octet limit of RFC 5280.
    return secrets.randbits(159) | 1


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

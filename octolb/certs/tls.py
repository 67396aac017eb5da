"""Tenant TLS material from key-manager references, as HAProxy needs it.

A listener certificate reference names either a secret holding a PKCS12 bundle (Octavia's
preferred form; a PEM bundle of certificate + key is accepted too) or a `certificate`
container (`certificate`, `private_key`, optional `intermediates` and
`private_key_passphrase`). Either way the result is a PEM certificate, its private key
unencrypted (PKCS8) and the intermediates, with the key checked against the certificate.
Client CA and CRL references name a secret holding PEM.

Errors carry a message fit for an API answer: they name the reference, never the material.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID
from sqlalchemy.orm import Session

from octolb.certs import store

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


class TLSMaterialError(Exception):
    """Base: the material behind a reference cannot be used."""


class CertificateRetrievalError(TLSMaterialError):
    """The reference cannot be read: unknown, another project's, or a foreign key manager."""

    def __init__(self, refs: list[str], detail: str = "") -> None:
        self.refs = refs
        super().__init__(f"Could not retrieve certificate: {refs}"
                         + (f" ({detail})" if detail else ""))


class UnreadablePKCS12(TLSMaterialError):
    def __init__(self, detail: str) -> None:
        super().__init__("The PKCS12 bundle is unreadable: check that it is a valid "
                         f"PKCS12 bundle without a passphrase. Error: {detail}")


class UnreadableCertificate(TLSMaterialError):
    """PEM that is not a certificate, a key that cannot be loaded, a wrong passphrase."""


class KeyMismatch(TLSMaterialError):
    """The private key is not the certificate's."""


@dataclass(frozen=True)
class TLSCertificate:
    certificate: bytes  # PEM
    private_key: bytes  # PEM, PKCS8, unencrypted
    intermediates: list[bytes] = field(default_factory=list)  # PEM each
    primary_cn: str | None = None
    alt_names: list[str] = field(default_factory=list)

    def pem_bundle(self) -> bytes:
        """What HAProxy loads for a crt-list line: certificate, key, then intermediates."""
        parts = [self.certificate, self.private_key, *self.intermediates]
        return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)

    def __repr__(self) -> str:  # never print key material
        return f"TLSCertificate(cn={self.primary_cn!r}, alt_names={self.alt_names!r})"


def file_name(content: bytes) -> str:
    """The name a piece of material gets on the amphora: sha1 of its content (Octavia)."""
    return hashlib.sha1(content).hexdigest() + ".pem"  # noqa: S324 - a name, not security


# --- parsing (no database) -------------------------------------------------------------

def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _names(cert: x509.Certificate) -> tuple[str | None, list[str]]:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        alt = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        alt = []
    return cn, alt


def _public_numbers_equal(a, b) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def _build(cert: x509.Certificate, key, intermediates: list[x509.Certificate]
           ) -> TLSCertificate:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise UnreadableCertificate("the private key type is not supported")
    if not _public_numbers_equal(cert.public_key(), key.public_key()):
        raise KeyMismatch("the private key does not match the certificate")
    cn, alt = _names(cert)
    return TLSCertificate(_cert_pem(cert), _key_pem(key),
                          [_cert_pem(i) for i in intermediates], cn, alt)


def load_pem_certificates(data: bytes, what: str = "certificate") -> list[x509.Certificate]:
    if _PEM_CERT not in data:
        raise UnreadableCertificate(f"the {what} is not PEM-encoded X.509")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UnreadableCertificate(f"the {what} is not valid PEM X.509") from None
    return certs


def _load_key(data: bytes, passphrase: bytes | None):
    try:
        return serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        raise UnreadableCertificate(
            "the private key is encrypted and needs the right private_key_passphrase"
            if not passphrase else "the private key is not encrypted but a passphrase "
            "was given") from None
    except ValueError:
        raise UnreadableCertificate("the private key cannot be read (not PEM, or a wrong "
                                    "passphrase)") from None


def parse_pkcs12(data: bytes) -> TLSCertificate:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, None)
    except ValueError as exc:
        raise UnreadablePKCS12(str(exc) or type(exc).__name__) from None
    if cert is None or key is None:
        raise UnreadablePKCS12("the bundle needs a certificate and its private key")
    return _build(cert, key, list(extra or []))


def parse_pem_bundle(data: bytes) -> TLSCertificate:
    """A secret holding PEM: the server certificate first, then its chain, and the key."""
    certs = load_pem_certificates(data)
    return _build(certs[0], _load_key(data, None), certs[1:])


def parse_container(parts: dict[str, bytes | None]) -> TLSCertificate:
    """The payloads of a certificate container by name."""
    cert_data = parts.get("certificate")
    key_data = parts.get("private_key")
    if not cert_data:
        raise UnreadableCertificate("the container has no certificate")
    if not key_data:
        raise UnreadableCertificate("the container has no private_key")
    certs = load_pem_certificates(cert_data)
    intermediates = list(certs[1:])
    if parts.get("intermediates"):
        intermediates += load_pem_certificates(parts["intermediates"], "intermediates")
    passphrase = parts.get("private_key_passphrase")
    return _build(certs[0], _load_key(key_data, passphrase), intermediates)


def parse_certificate_payload(payload: bytes | dict[str, bytes | None]) -> TLSCertificate:
    """What a listener certificate reference holds, parsed: a container's parts, a PEM
    bundle, or PKCS12."""
    if isinstance(payload, dict):
        return parse_container(payload)
    if _PEM_CERT in payload:
        return parse_pem_bundle(payload)
    return parse_pkcs12(payload)


def parse_ca(data: bytes, what: str = "client CA") -> bytes:
    """A CA bundle (client authentication, or members' CA): PEM certificates, as stored."""
    load_pem_certificates(data, what)
    return data


def parse_crl(data: bytes, ca_pem: bytes, what: str = "client CRL",
              ca_what: str = "client CA") -> bytes:
    """A CRL in PEM, signed by one of the CA bundle's certificates."""
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        raise UnreadableCertificate(f"the {what} is not a PEM X.509 CRL") from None
    for ca in load_pem_certificates(ca_pem, ca_what):
        try:
            if crl.is_signature_valid(ca.public_key()):
                return data
        except TypeError:
            continue
    raise UnreadableCertificate(f"the {what} is not signed by the {ca_what}")


# --- from references -------------------------------------------------------------------

def read(session: Session, ref: str, project_id: str | None
         ) -> bytes | dict[str, bytes | None]:
    """The payload(s) behind `ref` as `project_id` may read them."""
    try:
        return store.read_ref(session, ref, project_id, is_admin=False)
    except store.ForeignRef:
        raise CertificateRetrievalError(
            [ref], "a key manager other than the built-in one (<octolb API>/key-manager/v1/"
            "...) is not reachable in this deployment") from None
    except store.KeyManagerError:
        raise CertificateRetrievalError([ref]) from None


def load_certificate(session: Session, ref: str, project_id: str | None) -> TLSCertificate:
    return parse_certificate_payload(read(session, ref, project_id))


def _single(session: Session, ref: str, project_id: str | None, what: str) -> bytes:
    payload = read(session, ref, project_id)
    if isinstance(payload, dict):
        raise UnreadableCertificate(f"the {what} reference must name a secret, not a "
                                    "container")
    return payload


def load_ca(session: Session, ref: str, project_id: str | None,
            what: str = "client CA") -> bytes:
    return parse_ca(_single(session, ref, project_id, what), what)


def load_crl(session: Session, ref: str, ca_pem: bytes, project_id: str | None,
             what: str = "client CRL", ca_what: str = "client CA") -> bytes:
    return parse_crl(_single(session, ref, project_id, what), ca_pem, what, ca_what)

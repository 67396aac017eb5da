"""Test certificates made on the fly with `cryptography` (no key material is committed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Pair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
               else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8, enc)

    def pkcs12(self, chain: list[Pair] = (), passphrase: bytes | None = None) -> bytes:
        enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
               else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(
            b"test", self.key, self.cert, [p.cert for p in chain] or None, enc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ca(cn: str = "octolb test CA", issuer: Pair | None = None) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(issuer.cert.subject if issuer else _name(cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(_now() - dt.timedelta(days=1))
         .not_valid_after(_now() + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                      False), critical=True))
    return Pair(b.sign(signer_key, hashes.SHA256()), key)


def leaf(issuer: Pair, cn: str, sans: list[str] = (), client: bool = False) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(_now() - dt.timedelta(days=1))
         .not_valid_after(_now() + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage(
             [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
             critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                            critical=False)
    return Pair(b.sign(issuer.key, hashes.SHA256()), key)


def crl(issuer: Pair, revoked: list[Pair] = (), signer: Pair | None = None) -> bytes:
    signer = signer or issuer
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
         .last_update(_now() - dt.timedelta(hours=1))
         .next_update(_now() + dt.timedelta(days=7)))
    for p in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(p.cert.serial_number)
            .revocation_date(_now() - dt.timedelta(minutes=5)).build())
    return b.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

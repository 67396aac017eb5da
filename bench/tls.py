"""TLS material for the TLS-terminated case: a self-signed certificate made here, stored in
octolb's built-in key manager as a PKCS12 secret, the way a tenant does it with
`openstack secret store`."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def self_signed_pkcs12(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, None,
                                                 serialization.NoEncryption())


def store_secret(api, name: str) -> str:
    """The secret's href, as `openstack secret store -t application/octet-stream -e base64`
    returns it."""
    r = api.http.post("/key-manager/v1/secrets", json={
        "name": name, "payload": base64.b64encode(self_signed_pkcs12(name)).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64", "secret_type": "opaque"})
    r.raise_for_status()
    return r.json()["secret_ref"]


def tls_lb(api, lb: dict, members: list[tuple[str, int]], port: int = 443) -> dict:
    """A TERMINATED_HTTPS listener on `lb` with an HTTP pool of `members` and a monitor."""
    ref = store_secret(api, "bench.octolb.test")
    lis = api.call("POST", "/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": port,
        "default_tls_container_ref": ref}})["listener"]
    api.wait_active(lb["id"])
    pool = api.create_pool(lb["id"], lis["id"], "HTTP")
    api.create_hm(lb["id"], pool["id"], "HTTP")
    for a, p in members:
        api.create_member(lb["id"], pool["id"], a, p)
    return {"vip": lb["vip_address"], "port": port, "listener_id": lis["id"]}

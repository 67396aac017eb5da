"""The built-in key manager: secrets and containers in octolb's database, Barbican-shaped.

Payloads are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256) under a key kept in
`<state_dir>/secrets.key` (mode 0600, made on first use). A database dump alone reveals no
private key. Payloads are never logged, and never part of an exception message.

References are URLs ending in `/v1/secrets/<uuid>` or `/v1/containers/<uuid>` (what
Barbican hands out). Only the uuid is looked up here: a ref that names this store under
another host name still resolves, a ref that does not have that shape is foreign.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from octolb.config import state_path
from octolb.db.models import Secret, SecretContainer

KEY_FILE = "secrets.key"
SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
CONTAINER_TYPES = ("generic", "certificate", "rsa")
# the names a certificate container may hold (Barbican's rule); `certificate` is required
CERTIFICATE_CONTAINER_NAMES = ("certificate", "private_key", "private_key_passphrase",
                               "intermediates")
RSA_CONTAINER_NAMES = ("public_key", "private_key", "private_key_passphrase")
_REF = re.compile(r"^(?:.*/)?v1/(secrets|containers)/([0-9a-fA-F-]{36})/?$")

_lock = threading.Lock()
_fernets: dict[Path, Fernet] = {}


class KeyManagerError(Exception):
    """Base of the store's errors; the message never contains secret material."""


class ForeignRef(KeyManagerError):
    """A reference that does not name this store (another Barbican, a file path...)."""


class RefNotFound(KeyManagerError):
    """The secret or container does not exist, or the caller's project may not read it."""


@dataclass(frozen=True)
class Ref:
    kind: str  # "secrets" | "containers"
    id: str


def parse_ref(ref: str) -> Ref:
    """`.../v1/secrets/<uuid>` or `.../v1/containers/<uuid>`; anything else is foreign."""
    m = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if m is None:
        raise ForeignRef(f"{ref} is not a reference of the built-in key manager")
    return Ref(m.group(1), m.group(2).lower())


def _fernet() -> Fernet:
    path = state_path(KEY_FILE)
    with _lock:
        f = _fernets.get(path)
        if f is not None:
            return f
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
        f = Fernet(path.read_bytes().strip())
        _fernets[path] = f
        return f


def encrypt(payload: bytes) -> bytes:
    return _fernet().encrypt(payload)


def decrypt(blob: bytes) -> bytes:
    try:
        return _fernet().decrypt(blob)
    except InvalidToken:
        raise KeyManagerError("a stored secret cannot be decrypted with this state "
                              f"directory's {KEY_FILE}") from None


def visible(obj: Secret | SecretContainer, project_id: str | None, is_admin: bool) -> bool:
    """A project sees its own secrets; an admin sees all (Barbican's default policy lets
    an admin of the project, not every admin; octolb's noauth caller is admin)."""
    return is_admin or (obj.project_id is not None and obj.project_id == project_id)


def store_secret(session: Session, *, project_id: str | None, creator_id: str | None,
                 name: str | None, secret_type: str, content_type: str | None,
                 payload: bytes | None, algorithm: str | None = None,
                 bit_length: int | None = None, mode: str | None = None,
                 expiration=None) -> Secret:
    secret = Secret(project_id=project_id, creator_id=creator_id, name=name,
                    secret_type=secret_type, algorithm=algorithm, bit_length=bit_length,
                    mode=mode, expiration=expiration, content_type=content_type,
                    payload=None if payload is None else encrypt(payload))
    session.add(secret)
    session.flush()
    return secret


def secret_payload(secret: Secret) -> bytes | None:
    return None if secret.payload is None else decrypt(secret.payload)


def get_secret(session: Session, secret_id: str, project_id: str | None,
               is_admin: bool) -> Secret:
    secret = session.get(Secret, secret_id.lower())
    if secret is None or not visible(secret, project_id, is_admin):
        raise RefNotFound(f"secret {secret_id} not found")
    return secret


def get_container(session: Session, container_id: str, project_id: str | None,
                  is_admin: bool) -> SecretContainer:
    container = session.get(SecretContainer, container_id.lower())
    if container is None or not visible(container, project_id, is_admin):
        raise RefNotFound(f"container {container_id} not found")
    return container


def read_ref(session: Session, ref: str, project_id: str | None, is_admin: bool
             ) -> bytes | dict[str, bytes | None]:
    """What a reference holds: a secret's payload, or a container's payloads by name.

    Raises ForeignRef, RefNotFound (also for a secret of another project) or
    KeyManagerError."""
    parsed = parse_ref(ref)
    if parsed.kind == "secrets":
        payload = secret_payload(get_secret(session, parsed.id, project_id, is_admin))
        if payload is None:
            raise RefNotFound(f"secret {parsed.id} has no payload")
        return payload
    container = get_container(session, parsed.id, project_id, is_admin)
    out: dict[str, bytes | None] = {}
    for name, secret_id in (container.secret_refs or {}).items():
        out[name] = secret_payload(get_secret(session, secret_id, project_id, is_admin))
    return out

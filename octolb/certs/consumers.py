"""Who uses a secret or a container of the built-in key manager (Barbican's "consumers").

Two sources, merged when they are shown:

- the load balancers' own uses, read from the live listeners and pools holding the
  references (`default_tls_container_ref`, `sni_container_refs`, `client_ca_tls_container_ref`,
  `client_crl_container_ref`; `tls_container_ref`, `ca_tls_container_ref`,
  `crl_container_ref`). They appear as service `load-balancer`, resource type `listener` or
  `pool`, the object's id: the consumer comes with the reference and goes when the reference
  is changed or unset, when the object is deleted, or when its load balancer is (cascade).
  Nothing is stored for them, so they cannot drift from the objects (a graph create, a
  cascade delete, a worker purge all count without any bookkeeping);
- consumers other services register through the API (`POST .../consumers`), stored in
  `key_manager_consumer`.

A listener or pool stops being a consumer when it is PENDING_DELETE (or its load balancer
is): from then on the worker only removes it and never reads its references again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.certs import store
from octolb.db.models import KeyManagerConsumer, Listener, LoadBalancer, Pool, SecretContainer

SERVICE = "load-balancer"  # the service type of Octavia's API in the catalog
SECRET, CONTAINER = "secret", "container"
_GONE = (c.PENDING_DELETE, c.DELETED)
LISTENER_REFS = ("default_tls_container_ref", "client_ca_tls_container_ref",
                 "client_crl_container_ref")
POOL_REFS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")


@dataclass(frozen=True)
class Consumer:
    service: str  # a container consumer's `name`
    resource_type: str | None  # None for a container consumer registered through the API
    resource_id: str  # a container consumer's `URL` when registered through the API
    created: dt.datetime | None
    updated: dt.datetime | None
    load_balancer_id: str | None = None  # set for the load balancers' own uses

    @property
    def ours(self) -> bool:
        return self.load_balancer_id is not None

    def describe(self) -> str:
        if self.ours:
            return (f"{self.resource_type} {self.resource_id} of load balancer "
                    f"{self.load_balancer_id}")
        if self.resource_type is None:
            return f"{self.service} {self.resource_id}"
        return f"{self.service} {self.resource_type} {self.resource_id}"


Usage = dict[tuple[str, str], list[Consumer]]  # (SECRET|CONTAINER, id) -> consumers


def _key(ref: str | None) -> tuple[str, str] | None:
    if not ref:
        return None
    try:
        parsed = store.parse_ref(ref)
    except store.ForeignRef:
        return None
    return (SECRET if parsed.kind == "secrets" else CONTAINER, parsed.id)


def load_balancer_usage(session: Session, project_id: str | None) -> Usage:
    """The project's secrets and containers its live listeners and pools reference."""
    usage: Usage = defaultdict(list)
    if project_id is None:
        return usage
    live = [LoadBalancer.provisioning_status.notin_(_GONE)]

    def add(obj, kind: str, refs: list[str | None]) -> None:
        seen = set()
        for key in filter(None, map(_key, refs)):
            if key not in seen:
                seen.add(key)
                usage[key].append(Consumer(SERVICE, kind, obj.id, obj.created_at,
                                           obj.updated_at or obj.created_at,
                                           obj.load_balancer_id))

    listeners = session.scalars(
        select(Listener).join(LoadBalancer, Listener.load_balancer_id == LoadBalancer.id)
        .where(Listener.project_id == project_id, Listener.provisioning_status.notin_(_GONE),
               *live, or_(Listener.protocol == c.TERMINATED_HTTPS,
                          *(getattr(Listener, f).isnot(None) for f in LISTENER_REFS)))
        .order_by(Listener.created_at, Listener.id))
    for lis in listeners:
        add(lis, "listener", [lis.default_tls_container_ref, *(lis.sni_container_refs or []),
                              lis.client_ca_tls_container_ref, lis.client_crl_container_ref])
    pools = session.scalars(
        select(Pool).join(LoadBalancer, Pool.load_balancer_id == LoadBalancer.id)
        .where(Pool.project_id == project_id, Pool.provisioning_status.notin_(_GONE), *live,
               or_(*(getattr(Pool, f).isnot(None) for f in POOL_REFS)))
        .order_by(Pool.created_at, Pool.id))
    for pool in pools:
        add(pool, "pool", [getattr(pool, f) for f in POOL_REFS])
    return usage


def _stored(row: KeyManagerConsumer) -> Consumer:
    return Consumer(row.service, row.resource_type, row.resource_id, row.created_at,
                    row.updated_at or row.created_at)


def stored(session: Session, kind: str, ref_ids: list[str]) -> dict[str, list[Consumer]]:
    out: dict[str, list[Consumer]] = defaultdict(list)
    if not ref_ids:
        return out
    rows = session.scalars(select(KeyManagerConsumer).where(
        KeyManagerConsumer.ref_kind == kind, KeyManagerConsumer.ref_id.in_(ref_ids))
        .order_by(KeyManagerConsumer.created_at, KeyManagerConsumer.id))
    for row in rows:
        out[row.ref_id].append(_stored(row))
    return out


def consumers_of(session: Session, kind: str, ref_ids: list[str], project_id: str | None,
                 usage: Usage | None = None) -> dict[str, list[Consumer]]:
    """Every consumer of each secret or container (`kind`) of `ref_ids`: the load
    balancers' uses first, then the registered ones (one entry per consumer)."""
    if usage is None:
        usage = load_balancer_usage(session, project_id)
    registered = stored(session, kind, ref_ids)
    out: dict[str, list[Consumer]] = {}
    for ref_id in ref_ids:
        entries = list(usage.get((kind, ref_id), []))
        ours = {(e.service, e.resource_type, e.resource_id) for e in entries}
        entries += [e for e in registered.get(ref_id, [])
                    if (e.service, e.resource_type, e.resource_id) not in ours]
        out[ref_id] = entries
    return out


def identity(service: str, resource_type: str | None, resource_id: str) -> str:
    text = "\x00".join([service, resource_type if resource_type is not None else "\x01",
                        resource_id])
    return hashlib.sha256(text.encode()).hexdigest()


def register(session: Session, kind: str, ref_id: str, project_id: str | None, service: str,
             resource_type: str | None, resource_id: str) -> None:
    """Add a consumer (a second registration of the same one changes nothing, as in
    Barbican). Commits."""
    key = identity(service, resource_type, resource_id)
    exists = session.scalar(select(KeyManagerConsumer.id).where(
        KeyManagerConsumer.ref_kind == kind, KeyManagerConsumer.ref_id == ref_id,
        KeyManagerConsumer.identity == key))
    if exists is not None:
        return
    session.add(KeyManagerConsumer(ref_kind=kind, ref_id=ref_id, project_id=project_id,
                                   service=service, resource_type=resource_type,
                                   resource_id=resource_id, identity=key))
    try:
        session.commit()
    except IntegrityError:  # registered by a concurrent request meanwhile
        session.rollback()


def unregister(session: Session, kind: str, ref_id: str, service: str,
               resource_type: str | None, resource_id: str) -> bool:
    """Remove a registered consumer; False when there is none such. Does not commit."""
    row = session.scalar(select(KeyManagerConsumer).where(
        KeyManagerConsumer.ref_kind == kind, KeyManagerConsumer.ref_id == ref_id,
        KeyManagerConsumer.identity == identity(service, resource_type, resource_id)))
    if row is None:
        return False
    session.delete(row)
    return True


def forget(session: Session, kind: str, ref_id: str) -> None:
    """Drop the registered consumers of a secret or container being deleted."""
    for row in session.scalars(select(KeyManagerConsumer).where(
            KeyManagerConsumer.ref_kind == kind, KeyManagerConsumer.ref_id == ref_id)):
        session.delete(row)


def in_the_way(session: Session, kind: str, obj) -> list[str]:
    """What stops deleting the secret or container `obj`: its consumers and, for a secret,
    the load balancers using a container that holds it (deleting the secret breaks them
    just the same). Empty when it may go."""
    usage = load_balancer_usage(session, obj.project_id)
    found = [e.describe()
             for e in consumers_of(session, kind, [obj.id], obj.project_id, usage)[obj.id]]
    if kind == SECRET:
        containers = session.scalars(select(SecretContainer).where(
            SecretContainer.project_id == obj.project_id)
            .order_by(SecretContainer.created_at, SecretContainer.id))
        for container in containers:
            if obj.id in (container.secret_refs or {}).values():
                found += [f"{e.describe()} (through container {container.id})"
                          for e in usage.get((CONTAINER, container.id), [])]
    return found

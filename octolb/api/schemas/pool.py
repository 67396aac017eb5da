"""Pool request bodies and representation."""

from __future__ import annotations

from octolb import constants as c
from octolb.api.schemas import types as t
from octolb.api.schemas.common import ids, live, owned
from octolb.db.models import pool_listeners


class SessionPersistence(t.Body):
    type: t.Enum(*c.SESSION_PERSISTENCE_TYPES) = None
    cookie_name: t.Name = None
    persistence_timeout: t.Int(0) = None
    persistence_granularity: t.IP = None


class _PoolCommon(t.Body):
    name: t.Name = None
    description: t.Name = None
    admin_state_up: t.Bool = True
    lb_algorithm: t.Enum(*c.LB_ALGORITHMS) = None
    session_persistence: t.AnyDict(SessionPersistence.model_json_schema()) = None
    tls_enabled: t.Bool = None
    tls_container_ref: t.Ref = None
    ca_tls_container_ref: t.Ref = None
    crl_container_ref: t.Ref = None
    tls_ciphers: t.String(2048) = None
    tls_versions: list[t.String(32)] | None = None
    alpn_protocols: list[t.String(32)] | None = None
    tags: t.Tags = None


class PoolPOST(_PoolCommon):
    loadbalancer_id: t.UUID = None
    listener_id: t.UUID = None
    protocol: t.Enum(*c.POOL_PROTOCOLS)
    lb_algorithm: t.Enum(*c.LB_ALGORITHMS)
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class PoolPUT(_PoolCommon):
    admin_state_up: t.Bool = None


def render_session_persistence(sp: dict | None) -> dict | None:
    if not sp:
        return None
    return {k: sp.get(k) for k in
            ("type", "cookie_name", "persistence_timeout", "persistence_granularity")}


def render(pool) -> dict:
    d = owned(pool)
    d.update({
        "description": pool.description or "",
        "protocol": pool.protocol,
        "lb_algorithm": pool.lb_algorithm,
        "session_persistence": render_session_persistence(pool.session_persistence),
        "loadbalancers": [{"id": pool.load_balancer_id}],
        "listeners": ids(live(pool_listeners(pool))),
        "members": ids(live(pool.members)),
        "tls_enabled": bool(pool.tls_enabled),
        "tls_container_ref": pool.tls_container_ref,
        "ca_tls_container_ref": pool.ca_tls_container_ref,
        "crl_container_ref": pool.crl_container_ref,
        "tls_ciphers": pool.tls_ciphers,
        "tls_versions": pool.tls_versions,
        "alpn_protocols": pool.alpn_protocols,
    })
    if pool.health_monitor is not None:  # Octavia omits the key when there is no monitor
        d["healthmonitor_id"] = pool.health_monitor.id
    return d

"""Quota bodies (Octavia §9.8.1): each limit under its canonical key and its deprecated
alias (`loadbalancer`/`load_balancer`, `healthmonitor`/`health_monitor`), both accepted in a
PUT and both emitted in responses; -1 is unlimited, null the configured default."""

from __future__ import annotations

from octolb.api.schemas.types import Body, Int

Limit = Int(-1, 2000000000)

# API key → Quota column
KEYS = {
    "loadbalancer": "load_balancer", "load_balancer": "load_balancer",
    "listener": "listener", "pool": "pool",
    "healthmonitor": "health_monitor", "health_monitor": "health_monitor",
    "member": "member", "l7policy": "l7policy", "l7rule": "l7rule",
}
COLUMNS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy",
           "l7rule")


class QuotaPUT(Body):
    loadbalancer: Limit = None
    load_balancer: Limit = None
    listener: Limit = None
    pool: Limit = None
    healthmonitor: Limit = None
    health_monitor: Limit = None
    member: Limit = None
    l7policy: Limit = None
    l7rule: Limit = None


def changes(body: QuotaPUT) -> dict[str, int | None]:
    """Column → new value for the keys the client sent (an explicit null resets a limit to
    the default). The canonical spelling wins when both are sent, as in Octavia."""
    out: dict[str, int | None] = {}
    sent = body.model_fields_set
    for key in ("load_balancer", "health_monitor", "loadbalancer", "healthmonitor",
                "listener", "pool", "member", "l7policy", "l7rule"):  # canonical last
        if key in sent:
            out[KEYS[key]] = getattr(body, key)
    return out


def render(project_id: str, limits: dict[str, int | None]) -> dict:
    doc = {col: limits.get(col) for col in COLUMNS}
    doc["loadbalancer"] = doc["load_balancer"]
    doc["healthmonitor"] = doc["health_monitor"]
    doc["project_id"] = doc["tenant_id"] = project_id
    return doc

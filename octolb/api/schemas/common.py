"""Rendering rules shared by every resource (Octavia API §4)."""

from __future__ import annotations

import datetime as dt


def ts(value: dt.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() if value else None


def owned(obj) -> dict:
    """Keys every project-owned object shows."""
    return {
        "id": obj.id,
        "name": obj.name or "",
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
        "provisioning_status": obj.provisioning_status,
        "operating_status": obj.operating_status,
        "admin_state_up": bool(obj.enabled),
        "created_at": ts(obj.created_at),
        "updated_at": ts(obj.updated_at),
        "tags": list(obj.tags or []),
    }


def ids(objs) -> list[dict]:
    return [{"id": o.id} for o in objs]


def live(objs):
    """Children still visible (DELETED rows are invisible)."""
    return [o for o in objs if o.provisioning_status != "DELETED"]

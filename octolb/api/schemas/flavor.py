"""Flavor request bodies and representation (v2.6)."""

from __future__ import annotations

from octolb.api.schemas import types as t


class FlavorPOST(t.Body):
    name: t.Name
    description: t.Name = None
    enabled: t.Bool = True
    flavor_profile_id: t.UUID


class FlavorPUT(t.Body):
    name: t.Name = None
    description: t.Name = None
    enabled: t.Bool = None


def render(flavor) -> dict:
    return {"id": flavor.id, "name": flavor.name, "description": flavor.description or "",
            "enabled": bool(flavor.enabled), "flavor_profile_id": flavor.flavor_profile_id}

"""Flavor request bodies and representation (v2.6). The fields every named choice of a
profile is created with are here too (availability zones choose their own kind of profile)."""

from __future__ import annotations

from octolb.api.schemas import types as t


class ChoicePOST(t.Body):
    """A named choice's fields; a kind adds its profile's id (after these)."""

    name: t.Name
    description: t.Name = None
    enabled: t.Bool = True


class FlavorPOST(ChoicePOST):
    flavor_profile_id: t.UUID


class FlavorPUT(t.Body):
    name: t.Name = None
    description: t.Name = None
    enabled: t.Bool = None


def render(flavor) -> dict:
    return {"id": flavor.id, "name": flavor.name, "description": flavor.description or "",
            "enabled": bool(flavor.enabled), "flavor_profile_id": flavor.flavor_profile_id}

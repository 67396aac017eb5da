"""Availability zone request bodies and representation (v2.14). A zone is named, not
numbered: its name is its identity."""

from __future__ import annotations

from octolb.api.schemas import types as t
from octolb.api.schemas.flavor import ChoicePOST


class AvailabilityZonePOST(ChoicePOST):
    availability_zone_profile_id: t.UUID


class AvailabilityZonePUT(t.Body):
    description: t.Name = None
    enabled: t.Bool = None


def render(az) -> dict:
    return {"name": az.name, "description": az.description or "",
            "enabled": bool(az.enabled),
            "availability_zone_profile_id": az.availability_zone_profile_id}

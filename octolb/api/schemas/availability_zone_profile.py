"""Availability zone profile request bodies and representation (v2.14)."""

from __future__ import annotations

from octolb.api.schemas import types as t
from octolb.api.schemas.flavor_profile import JSONText


class AvailabilityZoneProfilePOST(t.Body):
    name: t.Name
    provider_name: t.Name
    availability_zone_data: JSONText


class AvailabilityZoneProfilePUT(t.Body):
    name: t.Name = None
    provider_name: t.Name = None
    availability_zone_data: JSONText = None


def render(azp) -> dict:
    return {"id": azp.id, "name": azp.name, "provider_name": azp.provider_name,
            "availability_zone_data": azp.availability_zone_data}

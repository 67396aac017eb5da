"""Availability zone profile request bodies and representation (v2.14)."""

from __future__ import annotations

from octolb.api.schemas.flavor_profile import JSONText, ProfilePOST, ProfilePUT, profile_renderer


class AvailabilityZoneProfilePOST(ProfilePOST):
    availability_zone_data: JSONText


class AvailabilityZoneProfilePUT(ProfilePUT):
    availability_zone_data: JSONText = None


render = profile_renderer("availability_zone_data")

"""/v2/lbaas/availabilityzoneprofiles (v2.14): provider metadata behind availability zones.
Admin only."""

from __future__ import annotations

from octolb.api import profiles
from octolb.api.schemas import availability_zone_profile as schema
from octolb.api.schemas.provider_data import validate_availability_zone_data
from octolb.db.models import AvailabilityZone, AvailabilityZoneProfile

KIND = profiles.ProfileKind(
    path="/availabilityzoneprofiles", wrapper="availability_zone_profile",
    plural="availability_zone_profiles", policy="availability-zone-profile",
    label="Availability Zone Profile", model=AvailabilityZoneProfile,
    data_field="availability_zone_data", validate=validate_availability_zone_data,
    post=schema.AvailabilityZoneProfilePOST, put=schema.AvailabilityZoneProfilePUT,
    render=schema.render, used_by=AvailabilityZone.availability_zone_profile_id)

router = profiles.profile_routes(KIND)

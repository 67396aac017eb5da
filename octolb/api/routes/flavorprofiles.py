"""/v2/lbaas/flavorprofiles (v2.6): provider metadata behind flavors. Admin only."""

from __future__ import annotations

from octolb.api import profiles
from octolb.api.schemas import flavor_profile as schema
from octolb.api.schemas.provider_data import validate_flavor_data
from octolb.db.models import Flavor, FlavorProfile

KIND = profiles.ProfileKind(
    path="/flavorprofiles", wrapper="flavorprofile", plural="flavorprofiles",
    policy="flavor-profile", label="Flavor profile", model=FlavorProfile,
    data_field="flavor_data", validate=validate_flavor_data, post=schema.FlavorProfilePOST,
    put=schema.FlavorProfilePUT, render=schema.render, used_by=Flavor.flavor_profile_id)

router = profiles.profile_routes(KIND)

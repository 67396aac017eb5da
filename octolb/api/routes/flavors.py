"""/v2/lbaas/flavors (v2.6): named, admin-made choices of a flavor profile. Anyone may list
and show them (to pick one for a load balancer); only an admin changes them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from octolb.api import profiles
from octolb.api.routes import flavorprofiles
from octolb.api.schemas import flavor as schema
from octolb.db.models import Flavor, LoadBalancer

KIND = profiles.ChoiceKind(
    path="/flavors", wrapper="flavor", plural="flavors", policy="flavor", label="Flavor",
    noun="flavor", invalid="Invalid flavor_id.", model=Flavor, key="id",
    reserved=(profiles.NIL_UUID,), profile=flavorprofiles.KIND,
    profile_field="flavor_profile_id", lb_column=LoadBalancer.flavor_id,
    post=schema.FlavorPOST, put=schema.FlavorPUT, render=schema.render)

router = profiles.choice_routes(KIND)


def for_new_lb(session: Session, flavor_id: str, requested_provider: str | None,
               ) -> tuple[str, dict]:
    """Validate the flavor a new load balancer asks for; returns the provider that builds it
    (the flavor profile's) and the flavor's metadata."""
    profile, meta = profiles.chosen_profile(session, KIND, flavor_id, requested_provider)
    return profile.provider_name, meta

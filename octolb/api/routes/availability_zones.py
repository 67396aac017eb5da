"""/v2/lbaas/availabilityzones (v2.14): named zones a load balancer may be created in.
Anyone may list and show them; only an admin changes them. The URL names a zone by name."""

from __future__ import annotations

from sqlalchemy.orm import Session

from octolb.api import profiles
from octolb.api.errors import ValidationFailure
from octolb.api.routes import availability_zone_profiles
from octolb.api.schemas import availability_zone as schema
from octolb.db import flavors as flavors_db
from octolb.db.models import AvailabilityZone, LoadBalancer

KIND = profiles.ChoiceKind(
    path="/availabilityzones", wrapper="availability_zone", plural="availability_zones",
    policy="availability-zone", label="Availability Zone", noun="availability zone",
    invalid="Invalid availability zone.", model=AvailabilityZone,
    # Zones have no id: pages are ordered and marked by name (Octavia's paging of zones
    # does not work at all; octolb's does).
    key="name", reserved=(), profile=availability_zone_profiles.KIND,
    profile_field="availability_zone_profile_id", lb_column=LoadBalancer.availability_zone,
    post=schema.AvailabilityZonePOST, put=schema.AvailabilityZonePUT, render=schema.render)

router = profiles.choice_routes(KIND)


def for_new_lb(session: Session, name: str, provider: str) -> dict:
    """Validate the zone a new load balancer asks for; returns the zone's metadata."""
    return profiles.chosen_profile(session, KIND, name, provider)[1]


def check_vip_network(zone_meta: dict, network_id: str | None) -> None:
    """An AZ's valid_vip_networks (when not empty) is the list of networks VIPs may use."""
    allowed = zone_meta.get(flavors_db.VALID_VIP_NETWORKS)
    if allowed and network_id not in allowed:
        raise ValidationFailure("Supplied VIP network_id is not allowed by the configuration "
                                "of this deployment.")

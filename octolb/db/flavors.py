"""The metadata a load balancer's flavor and availability zone give it, read from their
profiles. The API refuses changes to a profile in use, so what the worker reads here is
what the API validated when the load balancer was created."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from octolb.db.models import AvailabilityZone, Flavor

# Capability names of the octolb amphora provider (published by /providers/.../capabilities,
# validated in api/schemas/provider_data.py, applied by the worker).
TOPOLOGY = "loadbalancer_topology"  # Octavia's
HAPROXY_MAXCONN = "haproxy_maxconn"  # octolb: global maxconn of the LB's HAProxy
HAPROXY_NBTHREAD = "haproxy_nbthread"  # octolb: HAProxy threads
VALID_VIP_NETWORKS = "valid_vip_networks"  # Octavia's (AZ)
MANAGEMENT_CIDR = "management_cidr"  # octolb (AZ): where amphorae take management addresses


def _load(text: str | None) -> dict:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def flavor_metadata(session: Session, flavor_id: str | None) -> dict:
    """The flavor profile's data of `flavor_id`; {} when the LB has no flavor."""
    if not flavor_id:
        return {}
    flavor = session.get(Flavor, flavor_id)
    if flavor is None or flavor.flavor_profile is None:
        return {}
    return _load(flavor.flavor_profile.flavor_data)


def availability_zone_metadata(session: Session, name: str | None) -> dict:
    """The AZ profile's data of the zone `name`; {} when the LB has no zone."""
    if not name:
        return {}
    az = session.get(AvailabilityZone, name)
    if az is None or az.availability_zone_profile is None:
        return {}
    return _load(az.availability_zone_profile.availability_zone_data)

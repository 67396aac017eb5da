"""/v2/lbaas/availabilityzones (v2.14): named zones a load balancer may be created in.
Anyone may list and show them; only an admin changes them. The URL names a zone by name."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps
from octolb.api.errors import BadRequest, Conflict, InvalidOption, NotFound, ValidationFailure
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.flavorprofiles import enabled_provider, mandatory, no_nulls
from octolb.api.schemas import availability_zone as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.api.schemas.provider_data import same_driver, validate_availability_zone_data
from octolb.db import flavors as flavors_db
from octolb.db.models import AvailabilityZone, AvailabilityZoneProfile, LoadBalancer

router = APIRouter()

COLUMNS = {"name": AvailabilityZone.name, "description": AvailabilityZone.description,
           "enabled": AvailabilityZone.enabled,
           "availability_zone_profile_id": AvailabilityZone.availability_zone_profile_id}


def get_zone(session: Session, name: str) -> AvailabilityZone:
    az = session.get(AvailabilityZone, name)
    if az is None:
        raise NotFound("Availability Zone", name)
    return az


def one(request: Request, az: AvailabilityZone) -> dict:
    return {"availability_zone": select_fields(schema.render(az), request)}


@router.get("/availabilityzones")
def list_zones(request: Request, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone:get_all", ctx.project_id)
    # Zones have no id: pages are ordered and marked by name (Octavia's paging of zones
    # does not work at all; octolb's does).
    return list_resources(request, session, AvailabilityZone, plural="availability_zones",
                          columns=COLUMNS, render=schema.render, id_attr="name")


@router.post("/availabilityzones", status_code=201)
async def create_zone(request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "availability_zone", schema.AvailabilityZonePOST,
                      "availability_zone_")
    auth.enforce(ctx, "availability-zone:post", ctx.project_id)
    mandatory(body, "name", "availability_zone_profile_id")
    if session.get(AvailabilityZoneProfile, body.availability_zone_profile_id) is None:
        raise InvalidOption(body.availability_zone_profile_id, "availability_zone_profile_id")
    exists = f"A availability zone of {body.name} already exists."
    if session.get(AvailabilityZone, body.name) is not None:
        raise Conflict(exists)
    az = AvailabilityZone(name=body.name, description=body.description,
                          enabled=bool(body.enabled),
                          availability_zone_profile_id=body.availability_zone_profile_id)
    session.add(az)
    try:
        session.commit()
    except IntegrityError:  # a concurrent create took the name first
        session.rollback()
        raise Conflict(exists) from None
    return one(request, az)


@router.get("/availabilityzones/{name}")
def show_zone(name: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone:get_one", ctx.project_id)
    return one(request, get_zone(session, name))


@router.put("/availabilityzones/{name}")
async def update_zone(name: str, request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "availability_zone", schema.AvailabilityZonePUT,
                      "availability_zone_")
    auth.enforce(ctx, "availability-zone:put", ctx.project_id)
    no_nulls(body, "enabled")
    az = get_zone(session, name)
    for field in sent(body):
        setattr(az, field, getattr(body, field))
    session.commit()
    return one(request, az)


@router.delete("/availabilityzones/{name}", status_code=204)
def delete_zone(name: str, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone:delete", ctx.project_id)
    az = get_zone(session, name)
    in_use = session.scalar(select(func.count()).select_from(LoadBalancer).where(
        LoadBalancer.availability_zone == az.name,
        LoadBalancer.provisioning_status != c.DELETED))
    if in_use:
        raise Conflict(f"Availability Zone {az.name} is in use and cannot be modified.")
    session.delete(az)
    session.commit()
    return Response(status_code=204)


def for_new_lb(session: Session, name: str, provider: str) -> dict:
    """Validate the zone a new load balancer asks for; returns the zone's metadata."""
    az = session.get(AvailabilityZone, name)
    if az is None:
        raise ValidationFailure("Invalid availability zone.")
    if not az.enabled:
        raise BadRequest(f"The selected availability_zone is not allowed in this "
                         f"deployment: {name}")
    profile = az.availability_zone_profile
    if not same_driver(profile.provider_name, provider):
        raise BadRequest(f"Availability zone '{name}' is not compatible with provider "
                         f"'{provider}'")
    enabled_provider(profile.provider_name)
    return validate_availability_zone_data(profile.provider_name,
                                           profile.availability_zone_data)


def check_vip_network(zone_meta: dict, network_id: str | None) -> None:
    """An AZ's valid_vip_networks (when not empty) is the list of networks VIPs may use."""
    allowed = zone_meta.get(flavors_db.VALID_VIP_NETWORKS)
    if allowed and network_id not in allowed:
        raise ValidationFailure("Supplied VIP network_id is not allowed by the configuration "
                                "of this deployment.")

"""/v2/lbaas/availabilityzoneprofiles (v2.14): provider metadata behind availability zones.
Admin only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb.api import auth, deps
from octolb.api.errors import Conflict, NotFound
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.flavorprofiles import (
    NIL_UUID,
    enabled_provider,
    mandatory,
    no_nulls,
)
from octolb.api.schemas import availability_zone_profile as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.api.schemas.provider_data import validate_availability_zone_data
from octolb.db.models import AvailabilityZone, AvailabilityZoneProfile

router = APIRouter()

COLUMNS = {"id": AvailabilityZoneProfile.id, "name": AvailabilityZoneProfile.name,
           "provider_name": AvailabilityZoneProfile.provider_name,
           "availability_zone_data": AvailabilityZoneProfile.availability_zone_data}
WRAPPER = "availability_zone_profile"


def get_profile(session: Session, azp_id: str) -> AvailabilityZoneProfile:
    azp = None if azp_id == NIL_UUID else session.get(AvailabilityZoneProfile, azp_id)
    if azp is None:
        raise NotFound("Availability Zone Profile", azp_id)
    return azp


def one(request: Request, azp: AvailabilityZoneProfile) -> dict:
    return {WRAPPER: select_fields(schema.render(azp), request)}


def _in_use(session: Session, azp_id: str) -> bool:
    return bool(session.scalar(
        select(func.count()).select_from(AvailabilityZone)
        .where(AvailabilityZone.availability_zone_profile_id == azp_id)))


def _in_use_error(azp_id: str) -> Conflict:
    return Conflict(f"Availability Zone Profile {azp_id} is in use and cannot be modified.")


@router.get("/availabilityzoneprofiles")
def list_profiles(request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone-profile:get_all", ctx.project_id)
    doc = list_resources(request, session, AvailabilityZoneProfile,
                         plural="availability_zone_profiles", columns=COLUMNS,
                         render=schema.render, where=[AvailabilityZoneProfile.id != NIL_UUID])
    # Octavia's links key of this collection is singular
    return {"availability_zone_profiles": doc["availability_zone_profiles"],
            "availability_zone_profile_links": doc["availability_zone_profiles_links"]}


@router.post("/availabilityzoneprofiles", status_code=201)
async def create_profile(request: Request, session: Session = Depends(deps.db),
                         ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), WRAPPER, schema.AvailabilityZoneProfilePOST,
                      "availability_zone_profile_")
    auth.enforce(ctx, "availability-zone-profile:post", ctx.project_id)
    mandatory(body, "name", "provider_name", "availability_zone_data")
    enabled_provider(body.provider_name)
    validate_availability_zone_data(body.provider_name, body.availability_zone_data)
    azp = AvailabilityZoneProfile(name=body.name, provider_name=body.provider_name,
                                  availability_zone_data=body.availability_zone_data)
    session.add(azp)
    session.commit()
    return one(request, azp)


@router.get("/availabilityzoneprofiles/{azp_id}")
def show_profile(azp_id: str, request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone-profile:get_one", ctx.project_id)
    return one(request, get_profile(session, azp_id))


@router.put("/availabilityzoneprofiles/{azp_id}")
async def update_profile(azp_id: str, request: Request, session: Session = Depends(deps.db),
                         ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), WRAPPER, schema.AvailabilityZoneProfilePUT,
                      "availability_zone_profile_")
    auth.enforce(ctx, "availability-zone-profile:put", ctx.project_id)
    fields = sent(body)
    no_nulls(body, "name", "provider_name", "availability_zone_data")
    azp = get_profile(session, azp_id)
    if fields & {"provider_name", "availability_zone_data"}:
        if _in_use(session, azp.id):
            raise _in_use_error(azp.id)
        provider = body.provider_name if "provider_name" in fields else azp.provider_name
        enabled_provider(provider)
        validate_availability_zone_data(
            provider, body.availability_zone_data if "availability_zone_data" in fields
            else azp.availability_zone_data)
    for name in fields:
        setattr(azp, name, getattr(body, name))
    session.commit()
    return one(request, azp)


@router.delete("/availabilityzoneprofiles/{azp_id}", status_code=204)
def delete_profile(azp_id: str, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "availability-zone-profile:delete", ctx.project_id)
    azp = get_profile(session, azp_id)
    if _in_use(session, azp.id):
        raise _in_use_error(azp.id)
    session.delete(azp)
    try:
        session.commit()
    except IntegrityError:  # a zone was made on it meanwhile (databases with foreign keys)
        session.rollback()
        raise _in_use_error(azp.id) from None
    return Response(status_code=204)

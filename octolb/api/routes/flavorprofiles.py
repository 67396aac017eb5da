"""/v2/lbaas/flavorprofiles (v2.6): provider metadata behind flavors. Admin only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb.api import auth, deps
from octolb.api.errors import BadRequest, Conflict, NotFound
from octolb.api.query import list_resources, select_fields
from octolb.api.schemas import flavor_profile as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.api.schemas.provider_data import validate_flavor_data
from octolb.config import CONF
from octolb.db.models import Flavor, FlavorProfile

router = APIRouter()

NIL_UUID = "00000000-0000-0000-0000-000000000000"  # reserved by Octavia: never an object
COLUMNS = {"id": FlavorProfile.id, "name": FlavorProfile.name,
           "provider_name": FlavorProfile.provider_name,
           "flavor_data": FlavorProfile.flavor_data}


def mandatory(body, *fields: str) -> None:
    """A required field sent as null is as missing as an omitted one (WSME)."""
    for name in fields:
        if getattr(body, name) is None:
            raise BadRequest(f"Invalid input for field/attribute {name}. Value: 'None'. "
                             "Mandatory field missing.")


def no_nulls(body, *fields: str) -> None:
    """On PUT, these may be left out but never cleared."""
    for name in fields:
        if name in sent(body) and getattr(body, name) is None:
            raise BadRequest(f"None is not a valid option for {name}")


def enabled_provider(name: str) -> None:
    if name not in CONF.api_settings.enabled_provider_drivers:
        raise BadRequest(f"Provider '{name}' is not enabled.")


def get_profile(session: Session, fp_id: str) -> FlavorProfile:
    fp = None if fp_id == NIL_UUID else session.get(FlavorProfile, fp_id)
    if fp is None:
        raise NotFound("Flavor profile", fp_id)
    return fp


def one(request: Request, fp: FlavorProfile) -> dict:
    return {"flavorprofile": select_fields(schema.render(fp), request)}


@router.get("/flavorprofiles")
def list_profiles(request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor-profile:get_all", ctx.project_id)
    doc = list_resources(request, session, FlavorProfile, plural="flavorprofiles",
                         columns=COLUMNS, render=schema.render,
                         where=[FlavorProfile.id != NIL_UUID])
    # Octavia's links key of this collection is singular
    return {"flavorprofiles": doc["flavorprofiles"],
            "flavorprofile_links": doc["flavorprofiles_links"]}


@router.post("/flavorprofiles", status_code=201)
async def create_profile(request: Request, session: Session = Depends(deps.db),
                         ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "flavorprofile", schema.FlavorProfilePOST,
                      "flavorprofile_")
    auth.enforce(ctx, "flavor-profile:post", ctx.project_id)
    mandatory(body, "name", "provider_name", "flavor_data")
    enabled_provider(body.provider_name)
    validate_flavor_data(body.provider_name, body.flavor_data)
    fp = FlavorProfile(name=body.name, provider_name=body.provider_name,
                       flavor_data=body.flavor_data)
    session.add(fp)
    session.commit()
    return one(request, fp)


@router.get("/flavorprofiles/{fp_id}")
def show_profile(fp_id: str, request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor-profile:get_one", ctx.project_id)
    return one(request, get_profile(session, fp_id))


def _in_use(session: Session, fp_id: str) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Flavor)
                               .where(Flavor.flavor_profile_id == fp_id)))


@router.put("/flavorprofiles/{fp_id}")
async def update_profile(fp_id: str, request: Request, session: Session = Depends(deps.db),
                         ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "flavorprofile", schema.FlavorProfilePUT,
                      "flavorprofile_")
    auth.enforce(ctx, "flavor-profile:put", ctx.project_id)
    fields = sent(body)
    no_nulls(body, "name", "provider_name", "flavor_data")
    fp = get_profile(session, fp_id)
    if fields & {"provider_name", "flavor_data"}:
        if _in_use(session, fp.id):
            raise Conflict(f"Flavor profile {fp.id} is in use and cannot be modified.")
        provider = body.provider_name if "provider_name" in fields else fp.provider_name
        enabled_provider(provider)
        validate_flavor_data(provider,
                             body.flavor_data if "flavor_data" in fields else fp.flavor_data)
    for name in fields:
        setattr(fp, name, getattr(body, name))
    session.commit()
    return one(request, fp)


@router.delete("/flavorprofiles/{fp_id}", status_code=204)
def delete_profile(fp_id: str, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor-profile:delete", ctx.project_id)
    fp = get_profile(session, fp_id)
    if _in_use(session, fp.id):
        raise Conflict(f"Flavor profile {fp.id} is in use and cannot be modified.")
    session.delete(fp)
    try:
        session.commit()
    except IntegrityError:  # a flavor was made on it meanwhile (databases with foreign keys)
        session.rollback()
        raise Conflict(f"Flavor profile {fp_id} is in use and cannot be modified.") from None
    return Response(status_code=204)

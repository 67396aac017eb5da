"""/v2/lbaas/flavors (v2.6): named, admin-made choices of a flavor profile. Anyone may list
and show them (to pick one for a load balancer); only an admin changes them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps
from octolb.api.errors import BadRequest, Conflict, InvalidOption, NotFound, ValidationFailure
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.flavorprofiles import (
    NIL_UUID,
    enabled_provider,
    mandatory,
    no_nulls,
)
from octolb.api.schemas import flavor as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.api.schemas.provider_data import same_driver, validate_flavor_data
from octolb.db.models import Flavor, FlavorProfile, LoadBalancer

router = APIRouter()

COLUMNS = {"id": Flavor.id, "name": Flavor.name, "description": Flavor.description,
           "enabled": Flavor.enabled, "flavor_profile_id": Flavor.flavor_profile_id}


def get_flavor(session: Session, flavor_id: str) -> Flavor:
    flavor = None if flavor_id == NIL_UUID else session.get(Flavor, flavor_id)
    if flavor is None:
        raise NotFound("Flavor", flavor_id)
    return flavor


def one(request: Request, flavor: Flavor) -> dict:
    return {"flavor": select_fields(schema.render(flavor), request)}


def _name_taken(session: Session, name: str, but: str | None = None) -> bool:
    stmt = select(Flavor.id).where(Flavor.name == name)
    if but is not None:
        stmt = stmt.where(Flavor.id != but)
    return session.scalar(stmt) is not None


def _commit_unique(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # a concurrent create took the name first
        session.rollback()
        raise Conflict(f"A flavor of {name} already exists.") from None


@router.get("/flavors")
def list_flavors(request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor:get_all", ctx.project_id)
    return list_resources(request, session, Flavor, plural="flavors", columns=COLUMNS,
                          render=schema.render, where=[Flavor.id != NIL_UUID])


@router.post("/flavors", status_code=201)
async def create_flavor(request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "flavor", schema.FlavorPOST, "flavor_")
    auth.enforce(ctx, "flavor:post", ctx.project_id)
    mandatory(body, "name", "flavor_profile_id")
    if session.get(FlavorProfile, body.flavor_profile_id) is None:
        raise InvalidOption(body.flavor_profile_id, "flavor_profile_id")
    if _name_taken(session, body.name):
        raise Conflict(f"A flavor of {body.name} already exists.")
    flavor = Flavor(name=body.name, description=body.description,
                    enabled=bool(body.enabled), flavor_profile_id=body.flavor_profile_id)
    session.add(flavor)
    _commit_unique(session, body.name)
    return one(request, flavor)


@router.get("/flavors/{flavor_id}")
def show_flavor(flavor_id: str, request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor:get_one", ctx.project_id)
    return one(request, get_flavor(session, flavor_id))


@router.put("/flavors/{flavor_id}")
async def update_flavor(flavor_id: str, request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "flavor", schema.FlavorPUT, "flavor_")
    auth.enforce(ctx, "flavor:put", ctx.project_id)
    no_nulls(body, "name", "enabled")
    flavor = get_flavor(session, flavor_id)
    fields = sent(body)
    if "name" in fields and _name_taken(session, body.name, but=flavor.id):
        raise Conflict(f"A flavor of {body.name} already exists.")
    for name in fields:
        setattr(flavor, name, getattr(body, name))
    _commit_unique(session, flavor.name)
    return one(request, flavor)


@router.delete("/flavors/{flavor_id}", status_code=204)
def delete_flavor(flavor_id: str, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "flavor:delete", ctx.project_id)
    flavor = get_flavor(session, flavor_id)
    in_use = session.scalar(select(func.count()).select_from(LoadBalancer).where(
        LoadBalancer.flavor_id == flavor.id, LoadBalancer.provisioning_status != c.DELETED))
    if in_use:
        raise Conflict(f"Flavor {flavor.id} is in use and cannot be modified.")
    session.delete(flavor)
    session.commit()
    return Response(status_code=204)


def for_new_lb(session: Session, flavor_id: str, requested_provider: str | None,
               ) -> tuple[str, dict]:
    """Validate the flavor a new load balancer asks for; returns the provider that builds it
    (the flavor profile's) and the flavor's metadata."""
    flavor = None if flavor_id == NIL_UUID else session.get(Flavor, flavor_id)
    if flavor is None:
        raise ValidationFailure("Invalid flavor_id.")
    if not flavor.enabled:
        raise BadRequest(f"The selected flavor is not allowed in this deployment: {flavor_id}")
    profile = flavor.flavor_profile
    if requested_provider and not same_driver(requested_provider, profile.provider_name):
        raise BadRequest(f"Flavor '{flavor_id}' is not compatible with provider "
                         f"'{requested_provider}'")
    enabled_provider(profile.provider_name)
    # validated when the profile was written; again here, as Octavia's providers do
    return profile.provider_name, validate_flavor_data(profile.provider_name,
                                                       profile.flavor_data)

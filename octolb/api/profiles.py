"""Provider profiles and the named choices made of them: the routes that flavor profiles and
availability zone profiles share, and those that flavors and availability zones share. Each
resource module describes its kind (paths, body keys, policy rule prefix, error texts); the
routes here are the same for both kinds of a pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps
from octolb.api.errors import BadRequest, Conflict, InvalidOption, NotFound, ValidationFailure
from octolb.api.query import list_resources, select_fields
from octolb.api.schemas.parse import parse_body, sent
from octolb.api.schemas.provider_data import same_driver
from octolb.config import CONF
from octolb.db.models import LoadBalancer

NIL_UUID = "00000000-0000-0000-0000-000000000000"  # reserved by Octavia: never an object


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


@dataclass(frozen=True)
class _Kind:
    """What both kinds of a pair are described by (examples: flavors)."""

    path: str                # under /lbaas: "/flavors"
    wrapper: str             # request and response key: "flavor"
    plural: str              # collection key: "flavors"
    policy: str              # policy rule prefix: "flavor"
    label: str               # in 404 and in-use texts: "Flavor"
    model: type
    post: type
    put: type
    render: Callable[[Any], dict]


def _find(session: Session, kind: ProfileKind | ChoiceKind, key: str):
    return None if key in kind.reserved else session.get(kind.model, key)


def _get(session: Session, kind: ProfileKind | ChoiceKind, key: str):
    obj = _find(session, kind, key)
    if obj is None:
        raise NotFound(kind.label, key)
    return obj


def _one(request: Request, kind: _Kind, obj) -> dict:
    return {kind.wrapper: select_fields(kind.render(obj), request)}


async def _body(request: Request, ctx: auth.Context, kind: _Kind, model: type, action: str):
    """The request's body, parsed; then the policy check (a bad body is a 400 before a 403)."""
    body = parse_body(await request.body(), kind.wrapper, model, f"{kind.wrapper}_")
    auth.enforce(ctx, f"{kind.policy}:{action}", ctx.project_id)
    return body


def _in_use(kind: _Kind, key: str) -> Conflict:
    return Conflict(f"{kind.label} {key} is in use and cannot be modified.")


def _show_and_delete_routes(router: APIRouter, kind: ProfileKind | ChoiceKind) -> None:
    """GET and DELETE of one: the same for all four kinds."""

    @router.get(f"{kind.path}/{{key}}")
    def show(key: str, request: Request, session: Session = Depends(deps.db),
             ctx: auth.Context = Depends(auth.context)):
        auth.enforce(ctx, f"{kind.policy}:get_one", ctx.project_id)
        return _one(request, kind, _get(session, kind, key))

    @router.delete(f"{kind.path}/{{key}}", status_code=204)
    def delete(key: str, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
        auth.enforce(ctx, f"{kind.policy}:delete", ctx.project_id)
        obj = _get(session, kind, key)
        if kind.in_use(session, obj):
            raise _in_use(kind, getattr(obj, kind.key))
        session.delete(obj)
        try:
            session.commit()
        except IntegrityError:  # chosen meanwhile (a profile, on databases with foreign keys)
            session.rollback()
            raise _in_use(kind, key) from None
        return Response(status_code=204)


# --- profiles -------------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileKind(_Kind):
    """Admin-only provider metadata, kept as the JSON text the admin sent."""

    data_field: str          # the metadata: "flavor_data"
    validate: Callable[[str, Any], dict]  # the provider's check of the metadata
    used_by: Any             # the column of the choices made of a profile: Flavor.flavor_profile_id
    reserved: tuple[str, ...] = (NIL_UUID,)  # ids that never name one
    key: str = "id"

    def in_use(self, session: Session, profile) -> bool:
        """A profile some choice is made of keeps its provider and metadata."""
        return bool(session.scalar(select(func.count()).select_from(self.used_by.class_)
                                   .where(self.used_by == profile.id)))


def profile_routes(kind: ProfileKind) -> APIRouter:
    router = APIRouter()
    columns = {name: getattr(kind.model, name)
               for name in ("id", "name", "provider_name", kind.data_field)}

    @router.get(kind.path)
    def list_profiles(request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
        auth.enforce(ctx, f"{kind.policy}:get_all", ctx.project_id)
        doc = list_resources(request, session, kind.model, plural=kind.plural, columns=columns,
                             render=kind.render, where=[kind.model.id != NIL_UUID])
        # Octavia's links key of this collection is singular
        return {kind.plural: doc[kind.plural],
                f"{kind.wrapper}_links": doc[f"{kind.plural}_links"]}

    @router.post(kind.path, status_code=201)
    async def create_profile(request: Request, session: Session = Depends(deps.db),
                             ctx: auth.Context = Depends(auth.context)):
        body = await _body(request, ctx, kind, kind.post, "post")
        mandatory(body, "name", "provider_name", kind.data_field)
        enabled_provider(body.provider_name)
        data = getattr(body, kind.data_field)
        kind.validate(body.provider_name, data)
        profile = kind.model(name=body.name, provider_name=body.provider_name,
                             **{kind.data_field: data})
        session.add(profile)
        session.commit()
        return _one(request, kind, profile)

    @router.put(f"{kind.path}/{{key}}")
    async def update_profile(key: str, request: Request, session: Session = Depends(deps.db),
                             ctx: auth.Context = Depends(auth.context)):
        body = await _body(request, ctx, kind, kind.put, "put")
        fields = sent(body)
        no_nulls(body, "name", "provider_name", kind.data_field)
        profile = _get(session, kind, key)
        if fields & {"provider_name", kind.data_field}:
            if kind.in_use(session, profile):
                raise _in_use(kind, profile.id)
            provider = body.provider_name if "provider_name" in fields else profile.provider_name
            enabled_provider(provider)
            source = body if kind.data_field in fields else profile
            kind.validate(provider, getattr(source, kind.data_field))
        for name in fields:
            setattr(profile, name, getattr(body, name))
        session.commit()
        return _one(request, kind, profile)

    _show_and_delete_routes(router, kind)

    return router


# --- named choices of a profile ---------------------------------------------------------

@dataclass(frozen=True)
class ChoiceKind(_Kind):
    """A named, admin-made choice of a profile that a load balancer may be created with.
    Anyone may list and show them; only an admin changes them."""

    noun: str                # in other error texts: "flavor"
    invalid: str             # a load balancer names none of them: "Invalid flavor_id."
    key: str                 # the attribute the URL names: "id" (a zone: "name")
    reserved: tuple[str, ...]  # keys that never name one (Octavia's nil UUID)
    profile: ProfileKind
    profile_field: str       # "flavor_profile_id"
    lb_column: Any           # the load balancers made with one: LoadBalancer.flavor_id

    def in_use(self, session: Session, obj) -> bool:
        """A choice some load balancer (not yet deleted) was made with stays."""
        return bool(session.scalar(select(func.count()).select_from(LoadBalancer).where(
            self.lb_column == getattr(obj, self.key),
            LoadBalancer.provisioning_status != c.DELETED)))


def _name_taken(session: Session, kind: ChoiceKind, name: str, but: str | None = None) -> bool:
    key = getattr(kind.model, kind.key)
    stmt = select(key).where(kind.model.name == name)
    if but is not None:
        stmt = stmt.where(key != but)
    return session.scalar(stmt) is not None


def _commit_unique(session: Session, kind: ChoiceKind, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # a concurrent create took the name first
        session.rollback()
        raise Conflict(f"A {kind.noun} of {name} already exists.") from None


def choice_routes(kind: ChoiceKind) -> APIRouter:
    router = APIRouter()
    columns = {name: getattr(kind.model, name) for name in dict.fromkeys(
        (kind.key, "name", "description", "enabled", kind.profile_field))}

    @router.get(kind.path)
    def list_choices(request: Request, session: Session = Depends(deps.db),
                     ctx: auth.Context = Depends(auth.context)):
        auth.enforce(ctx, f"{kind.policy}:get_all", ctx.project_id)
        key = getattr(kind.model, kind.key)
        return list_resources(request, session, kind.model, plural=kind.plural, columns=columns,
                              render=kind.render, where=[key != r for r in kind.reserved],
                              id_attr=kind.key)

    @router.post(kind.path, status_code=201)
    async def create_choice(request: Request, session: Session = Depends(deps.db),
                            ctx: auth.Context = Depends(auth.context)):
        body = await _body(request, ctx, kind, kind.post, "post")
        mandatory(body, "name", kind.profile_field)
        profile_id = getattr(body, kind.profile_field)
        if session.get(kind.profile.model, profile_id) is None:
            raise InvalidOption(profile_id, kind.profile_field)
        if _name_taken(session, kind, body.name):
            raise Conflict(f"A {kind.noun} of {body.name} already exists.")
        obj = kind.model(name=body.name, description=body.description,
                         enabled=bool(body.enabled), **{kind.profile_field: profile_id})
        session.add(obj)
        _commit_unique(session, kind, body.name)
        return _one(request, kind, obj)

    @router.put(f"{kind.path}/{{key}}")
    async def update_choice(key: str, request: Request, session: Session = Depends(deps.db),
                            ctx: auth.Context = Depends(auth.context)):
        body = await _body(request, ctx, kind, kind.put, "put")
        no_nulls(body, "name", "enabled")  # a kind whose PUT has no name never sends one
        obj = _get(session, kind, key)
        fields = sent(body)
        if "name" in fields and _name_taken(session, kind, body.name,
                                            but=getattr(obj, kind.key)):
            raise Conflict(f"A {kind.noun} of {body.name} already exists.")
        for name in fields:
            setattr(obj, name, getattr(body, name))
        _commit_unique(session, kind, obj.name)
        return _one(request, kind, obj)

    _show_and_delete_routes(router, kind)

    return router


def chosen_profile(session: Session, kind: ChoiceKind, key: str,
                   provider: str | None) -> tuple[Any, dict]:
    """Validate the choice a new load balancer names (and the provider it asks for, if any);
    returns the choice's profile and the profile's metadata as its provider reads it."""
    obj = _find(session, kind, key)
    if obj is None:
        raise ValidationFailure(kind.invalid)
    if not obj.enabled:
        raise BadRequest(f"The selected {kind.wrapper} is not allowed in this deployment: {key}")
    profile = session.get(kind.profile.model, getattr(obj, kind.profile_field))
    if provider and not same_driver(provider, profile.provider_name):
        raise BadRequest(f"{kind.noun.capitalize()} '{key}' is not compatible with provider "
                         f"'{provider}'")
    enabled_provider(profile.provider_name)
    # validated when the profile was written; again here, as Octavia's providers do
    return profile, kind.profile.validate(profile.provider_name,
                                          getattr(profile, kind.profile.data_field))

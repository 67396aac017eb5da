"""/v2/lbaas/providers and their flavor / availability-zone capabilities."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from octolb import constants as c
from octolb.api import auth
from octolb.api.errors import BadRequest
from octolb.api.query import select_fields
from octolb.api.schemas.provider_data import AZ_CAPABILITIES, FLAVOR_CAPABILITIES
from octolb.config import CONF

router = APIRouter()

# What the octolb amphora driver honours in flavor and AZ profiles (Octavia's driver lists
# more: compute_flavor, amp_image_tag, sriov_vip, ... which mean nothing for local amphorae).


def _enabled(provider: str) -> None:
    if provider not in CONF.api_settings.enabled_provider_drivers:
        raise BadRequest(f"Provider '{provider}' is not enabled.")


def _filtered(items: list[dict], request: Request) -> list[dict]:
    q = request.query_params
    out = [i for i in items if all(q[k] == i[k] for k in ("name", "description") if k in q)]
    return [select_fields(i, request) for i in out]


@router.get("/providers")
def list_providers(request: Request,
                   ctx: auth.Context = Depends(auth.require("provider:get_all"))):
    return {"providers": [
        select_fields({"name": p, "description": c.PROVIDERS.get(p, "")}, request)
        for p in CONF.api_settings.enabled_provider_drivers]}


@router.get("/providers/{provider}/flavor_capabilities")
def flavor_capabilities(provider: str, request: Request,
                        ctx: auth.Context = Depends(auth.require("provider-flavor:get_all"))):
    _enabled(provider)
    return {"flavor_capabilities": _filtered(FLAVOR_CAPABILITIES, request)}


@router.get("/providers/{provider}/availability_zone_capabilities")
def availability_zone_capabilities(provider: str, request: Request,
                                   ctx: auth.Context = Depends(
                                       auth.require("provider-availability-zone:get_all"))):
    _enabled(provider)
    return {"availability_zone_capabilities": _filtered(AZ_CAPABILITIES, request)}

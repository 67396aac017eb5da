"""/v2/lbaas/quotas (Octavia §9.8): list the stored records, show a project's effective
limits or the defaults, set and reset them (admin)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb.api import auth, deps
from octolb.api.errors import BadRequest, NotFound
from octolb.api.query import list_resources, select_fields
from octolb.api.quota import RESOURCES, default_limit, effective
from octolb.api.schemas import quota as schema
from octolb.api.schemas.parse import parse_body
from octolb.db.models import Quota

router = APIRouter()

COLUMNS = {"project_id": Quota.project_id, "id": Quota.project_id}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _project(project_id: str) -> str:
    if len(project_id) > 255 or _CONTROL.search(project_id):
        raise BadRequest("Invalid input for field/attribute project_id. Value should be "
                         "a string of at most 255 characters without control characters")
    return project_id


def _raw(row: Quota) -> dict:
    return schema.render(row.project_id, {col: getattr(row, col) for col in schema.COLUMNS})


def _effective(project_id: str, row: Quota | None) -> dict:
    return schema.render(project_id, {col: effective(row, col) for col in RESOURCES})


def _defaults(project_id: str) -> dict:
    return schema.render(project_id, {col: default_limit(col) for col in RESOURCES})


@router.get("/quotas")
def list_quotas(request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    project = auth.list_scope(ctx, "quota", request)
    where = [] if project is None else [Quota.project_id == project]
    return list_resources(request, session, Quota, plural="quotas", columns=COLUMNS,
                          render=_raw, where=where)


@router.get("/quotas/defaults")
def show_defaults(request: Request, ctx: auth.Context = Depends(auth.context)):
    # Octavia serves this as the project "defaults" (so non-admins get a 403); here any
    # caller who may read quotas in their own project may read the defaults (the reference's
    # recommendation).
    auth.enforce(ctx, "quota:get_defaults", ctx.project_id)
    return {"quota": select_fields(_defaults("defaults"), request)}


@router.get("/quotas/{project_id}")
def show_quota(project_id: str, request: Request, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "quota:get_one", _project(project_id))
    return {"quota": select_fields(_effective(project_id, session.get(Quota, project_id)),
                                   request)}


@router.get("/quotas/{project_id}/default")
def show_project_defaults(project_id: str, request: Request,
                          ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "quota:get_defaults", _project(project_id))
    return {"quota": select_fields(_defaults(project_id), request)}


@router.put("/quotas/{project_id}", status_code=202)
async def update_quota(project_id: str, request: Request, session: Session = Depends(deps.db),
                       ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "quota:put", _project(project_id))
    body = parse_body(await request.body(), "quota", schema.QuotaPUT, "quotas")
    for attempt in (1, 2):
        row = session.get(Quota, project_id)
        if row is None:
            row = Quota(project_id=project_id)
            session.add(row)
        for col, value in schema.changes(body).items():
            setattr(row, col, value)
        try:
            session.commit()
            break
        except IntegrityError:  # a concurrent first create or PUT made the row
            session.rollback()
            if attempt == 2:
                raise
    return {"quota": _effective(project_id, row)}


@router.delete("/quotas/{project_id}", status_code=202)
def reset_quota(project_id: str, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    auth.enforce(ctx, "quota:delete", _project(project_id))
    row = session.get(Quota, project_id)
    if row is None:
        raise NotFound("Quotas", project_id)
    for col in schema.COLUMNS:
        setattr(row, col, None)
    session.commit()
    return Response(status_code=202)

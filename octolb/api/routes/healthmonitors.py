"""/v2/lbaas/healthmonitors."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.amphora.render import values as render_values
from octolb.amphora.render.errors import RenderError
from octolb.api import auth, deps, locking, quota
from octolb.api.errors import (
    BadRequest,
    Conflict,
    InvalidOption,
    NotFound,
    ValidationFailure,
)
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.pools import get_pool
from octolb.api.schemas import health_monitor as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.config import CONF
from octolb.db.models import HealthMonitor

router = APIRouter()

COLUMNS = {
    "id": HealthMonitor.id, "name": HealthMonitor.name, "project_id": HealthMonitor.project_id,
    "type": HealthMonitor.type, "delay": HealthMonitor.delay,
    "timeout": HealthMonitor.timeout, "max_retries": HealthMonitor.rise_threshold,
    "max_retries_down": HealthMonitor.fall_threshold,
    "http_method": HealthMonitor.http_method, "url_path": HealthMonitor.url_path,
    "expected_codes": HealthMonitor.expected_codes, "admin_state_up": HealthMonitor.enabled,
    "pool_id": HealthMonitor.pool_id, "http_version": HealthMonitor.http_version,
    "domain_name": HealthMonitor.domain_name,
    "provisioning_status": HealthMonitor.provisioning_status,
    "operating_status": HealthMonitor.operating_status,
    "created_at": HealthMonitor.created_at, "updated_at": HealthMonitor.updated_at,
}
HTTP_TYPES = (c.HM_HTTP, c.HM_HTTPS)
HTTP_ONLY = ("http_method", "url_path", "expected_codes")
_CODES = re.compile(r"^(\d{3}(\s*,\s*\d{3})*|\d{3}-\d{3})$")
# RFC 3986 path characters; no whitespace, no scheme/authority, must start with '/'
_PATH = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*(\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?$")


def get_hm(session: Session, hm_id: str, ctx: auth.Context,
           action: str = "healthmonitor:get_one") -> HealthMonitor:
    """The live health monitor, after the policy `action` passed for its project."""
    hm = session.get(HealthMonitor, hm_id)
    if hm is None or hm.provisioning_status == c.DELETED:
        raise NotFound("Health Monitor", hm_id)
    auth.enforce(ctx, action, hm.project_id)
    return hm


def one(request: Request, hm: HealthMonitor) -> dict:
    return {"healthmonitor": select_fields(schema.render(hm), request)}


def _check_http_fields(hm_type: str, body, fields: set[str]) -> None:
    if hm_type not in HTTP_TYPES:
        for f in HTTP_ONLY:
            if f in fields and getattr(body, f) is not None:
                raise InvalidOption(f, f"health monitors of type {hm_type}")
    if body.expected_codes is not None and not _CODES.match(body.expected_codes):
        raise BadRequest(f"Invalid input for field/attribute expected_codes. Value: "
                         f"'{body.expected_codes}'. Value should match the pattern "
                         r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
    if body.expected_codes is not None:
        _check_code_values(body.expected_codes)
    if body.url_path is not None and not _PATH.match(body.url_path):
        raise BadRequest(f"Invalid input for field/attribute url_path. Value: "
                         f"'{body.url_path}'. Value must be a valid URL Path string")
    if body.domain_name is not None:
        try:  # the renderer's own check: what passes here renders
            render_values.domain_name(body.domain_name)
        except RenderError:
            raise BadRequest(f"Invalid input for field/attribute domain_name. Value: "
                             f"'{body.domain_name}'. Value should match the pattern "
                             "of a host name") from None


def _check_code_values(codes: str) -> None:
    """What the pattern lets through but no HTTP status can match (999, 204-200): every
    member would be down for ever, and the renderer refuses it. Caught here, as a 400."""
    if "-" in codes:
        low, high = (int(code) for code in codes.split("-"))
        numbers = [low, high]
        reversed_range = low > high
    else:
        numbers = [int(code) for code in codes.split(",")]
        reversed_range = False
    if reversed_range or not all(100 <= n <= 599 for n in numbers):
        raise BadRequest(f"Invalid input for field/attribute expected_codes. Value: "
                         f"'{codes}'. Value should be HTTP status codes between 100 and 599, "
                         "a range from low to high")


def _check_domain(http_version, domain_name) -> None:
    if domain_name and http_version is None:
        raise ValidationFailure("'http_version' must be specified when 'domain_name' is "
                                "provided.")
    if domain_name and http_version < 1.1:
        raise BadRequest("http_version 1.0 is not a valid option for health monitors HTTP 1.1 "
                         "domain name health check")


def check_new_hm(pool_protocol: str, body) -> None:
    """The checks of a new monitor body on a pool of `pool_protocol` (§9.5, §10.2; also
    used by the graph create)."""
    if body.type == c.HM_PING and not CONF.api_settings.allow_ping_health_monitors:
        raise BadRequest("The selected type is not allowed in this deployment: PING")
    if pool_protocol in (c.UDP, c.SCTP):
        if body.type not in (c.HM_UDP_CONNECT, c.HM_SCTP, c.HM_TCP, c.HM_HTTP):
            raise ValidationFailure(f"The associated pool protocol is {pool_protocol}, so only "
                                    "a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.")
    elif body.type in (c.HM_UDP_CONNECT, c.HM_SCTP):
        raise ValidationFailure(f"The {body.type} type is only supported for pools of type "
                                "UDP/SCTP.")
    _check_http_fields(body.type, body, sent(body))
    _check_domain(body.http_version, body.domain_name)


def new_hm(pool, body) -> HealthMonitor:
    """The PENDING_CREATE row of a validated monitor body."""
    is_http = body.type in HTTP_TYPES
    return HealthMonitor(
        project_id=pool.project_id, pool_id=pool.id, name=body.name, type=body.type,
        delay=body.delay, timeout=body.timeout, rise_threshold=body.max_retries,
        fall_threshold=3 if body.max_retries_down is None else body.max_retries_down,
        http_method=(body.http_method or "GET") if is_http else None,
        url_path=(body.url_path or "/") if is_http else None,
        expected_codes=(body.expected_codes or "200") if is_http else None,
        http_version=body.http_version, domain_name=body.domain_name,
        enabled=bool(body.admin_state_up), provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE, tags=body.tags or [])


@router.get("/healthmonitors")
def list_hms(request: Request, session: Session = Depends(deps.db),
             ctx: auth.Context = Depends(auth.context)):
    where = [HealthMonitor.provisioning_status != c.DELETED]
    project = auth.list_scope(ctx, "healthmonitor", request)
    if project is not None:
        where.append(HealthMonitor.project_id == project)
    return list_resources(request, session, HealthMonitor, plural="healthmonitors",
                          columns=COLUMNS, render=schema.render, where=where)


@router.post("/healthmonitors", status_code=201)
async def create_hm(request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "healthmonitor", schema.HealthMonitorPOST,
                      "health_monitor_")
    pool = get_pool(session, body.pool_id, ctx, "healthmonitor:post")
    check_new_hm(pool.protocol, body)
    if pool.health_monitor is not None:
        raise Conflict("This pool already has a health monitor")
    quota.check_and_reserve(session, pool.project_id, "health_monitor")
    locking.require_pool_active(pool)
    locking.take_lb(session, pool.load_balancer)
    hm = new_hm(pool, body)
    session.add(hm)
    pool.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return one(request, hm)


@router.get("/healthmonitors/{hm_id}")
def show_hm(hm_id: str, request: Request, session: Session = Depends(deps.db),
            ctx: auth.Context = Depends(auth.context)):
    return one(request, get_hm(session, hm_id, ctx))


@router.put("/healthmonitors/{hm_id}")
async def update_hm(hm_id: str, request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "healthmonitor", schema.HealthMonitorPUT,
                      "health_monitor_")
    hm = get_hm(session, hm_id, ctx, "healthmonitor:put")
    fields = sent(body)
    for f in ("delay", "timeout", "max_retries"):
        if f in fields and getattr(body, f) is None:
            raise InvalidOption("None", f)
    _check_http_fields(hm.type, body, fields)
    _check_domain(body.http_version if "http_version" in fields else hm.http_version,
                  body.domain_name if "domain_name" in fields else hm.domain_name)
    pool = hm.pool
    locking.require_pool_active(pool)
    locking.take_lb(session, pool.load_balancer)
    defaults = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}
    for f in fields:
        v = getattr(body, f)
        if f == "admin_state_up":
            hm.enabled = bool(v)
        elif f == "max_retries":
            hm.rise_threshold = v
        elif f == "max_retries_down":
            hm.fall_threshold = 3 if v is None else v
        elif f in defaults:
            setattr(hm, f, defaults[f] if v is None else v)
        elif f == "tags":
            hm.tags = v or []
        else:
            setattr(hm, f, v)
    hm.provisioning_status = c.PENDING_UPDATE
    pool.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return one(request, hm)


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete_hm(hm_id: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    hm = get_hm(session, hm_id, ctx, "healthmonitor:delete")
    pool = hm.pool
    locking.require_pool_active(pool)
    locking.take_lb(session, pool.load_balancer)
    hm.provisioning_status = c.PENDING_DELETE
    pool.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return Response(status_code=204)


"""/v2/lbaas/pools/{pool_id}/members, including the batch update."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from oslo_utils import strutils
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking, quota
from octolb.api.errors import BadRequest, Conflict, InvalidOption, NotFound, ValidationFailure
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.pools import get_pool
from octolb.api.schemas import member as schema
from octolb.api.schemas.parse import load_json, parse_body, sent, validate
from octolb.config import CONF
from octolb.db.models import Member, Pool
from octolb.network.base import network_driver

router = APIRouter()

COLUMNS = {
    "id": Member.id, "name": Member.name, "project_id": Member.project_id,
    "address": Member.ip_address, "protocol_port": Member.protocol_port,
    "weight": Member.weight, "backup": Member.backup, "subnet_id": Member.subnet_id,
    "monitor_address": Member.monitor_address, "monitor_port": Member.monitor_port,
    "admin_state_up": Member.enabled, "provisioning_status": Member.provisioning_status,
    "operating_status": Member.operating_status, "vnic_type": Member.vnic_type,
    "created_at": Member.created_at, "updated_at": Member.updated_at,
}


def get_member(session: Session, pool: Pool, member_id: str) -> Member:
    m = session.get(Member, member_id)
    if m is None or m.pool_id != pool.id or m.provisioning_status == c.DELETED:
        raise NotFound("Member", member_id)
    return m


def one(request: Request, m: Member) -> dict:
    return {"member": select_fields(schema.render(m), request)}


def _check_new_member(session: Session, pool: Pool, body: schema.MemberPOST) -> None:
    if body.address in CONF.networking.reserved_ips:
        raise InvalidOption(body.address, "member address")
    if body.subnet_id and not network_driver().subnet_exists(session, body.subnet_id):
        raise BadRequest(f"Subnet {body.subnet_id} not found.")
    if body.request_sriov:
        raise BadRequest("The load balancer flavor does not allow SR-IOV member ports.")


def _new_member(pool: Pool, body: schema.MemberPOST) -> Member:
    return Member(
        project_id=pool.project_id, pool_id=pool.id, name=body.name,
        ip_address=body.address, protocol_port=body.protocol_port,
        weight=1 if body.weight is None else body.weight, backup=bool(body.backup),
        subnet_id=body.subnet_id, monitor_address=body.monitor_address,
        monitor_port=body.monitor_port, enabled=bool(body.admin_state_up),
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE if pool.health_monitor else c.NO_MONITOR,
        tags=body.tags or [])


def _lock(session: Session, pool: Pool) -> None:
    locking.require_pool_active(pool)
    locking.take_lb(session, pool.load_balancer)
    pool.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))


@router.get("/pools/{pool_id}/members")
def list_members(pool_id: str, request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:get_all")
    return list_resources(request, session, Member, plural="members", columns=COLUMNS,
                          render=schema.render,
                          where=[Member.pool_id == pool.id,
                                 Member.provisioning_status != c.DELETED])


@router.post("/pools/{pool_id}/members", status_code=201)
async def create_member(pool_id: str, request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:post")
    body = parse_body(await request.body(), "member", schema.MemberPOST, "member_")
    _check_new_member(session, pool, body)
    quota.check_and_reserve(session, pool.project_id, "member")
    _lock(session, pool)
    dup = [m for m in pool.members
           if m.ip_address == body.address and m.protocol_port == body.protocol_port]
    if dup:
        session.rollback()
        raise Conflict(f"Another member on this pool is already using ip {body.address} on "
                       f"protocol_port {body.protocol_port}")
    m = _new_member(pool, body)
    session.add(m)
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return one(request, m)


@router.put("/pools/{pool_id}/members", status_code=202)
async def batch_update_members(pool_id: str, request: Request,
                               session: Session = Depends(deps.db),
                               ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:post")
    batch = _parse_batch(await request.body())
    additive = strutils.bool_from_string(request.query_params.get("additive_only", "false"))
    auth.enforce(ctx, "member:put", pool.project_id)
    if not additive:
        auth.enforce(ctx, "member:delete", pool.project_id)
    wanted = [validate(schema.MemberPOST, raw, "members_.members") for raw in batch]
    existing = {(m.ip_address, m.protocol_port): m for m in pool.members
                if m.provisioning_status != c.DELETED}
    seen: set[tuple[str, int]] = set()
    for body in wanted:
        key = (body.address, body.protocol_port)
        if key in seen:
            raise ValidationFailure("Member must be updated only once in the same request.")
        seen.add(key)
        if key not in existing:
            _check_new_member(session, pool, body)
    added = sum(1 for key in seen if key not in existing)
    removed = 0 if additive else sum(1 for key in existing if key not in seen)
    quota.check_and_reserve(session, pool.project_id, "member", added - removed)
    _lock(session, pool)
    for body in wanted:
        m = existing.get((body.address, body.protocol_port))
        if m is None:
            session.add(_new_member(pool, body))
            continue
        given = sent(body)
        m.weight = 1 if body.weight is None else body.weight
        m.backup = bool(body.backup)
        m.enabled = True if "admin_state_up" not in given else bool(body.admin_state_up)
        m.monitor_address, m.monitor_port = body.monitor_address, body.monitor_port
        if "name" in given:
            m.name = body.name
        if "tags" in given:
            m.tags = body.tags or []
        if "subnet_id" in given:
            m.subnet_id = body.subnet_id
        m.provisioning_status = c.PENDING_UPDATE
    if not additive:
        for key, m in existing.items():
            if key not in seen:
                m.provisioning_status = c.PENDING_DELETE
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return Response(status_code=202)


def _parse_batch(raw: bytes) -> list:
    data = load_json(raw)
    if not isinstance(data, dict) or set(data) != {"members"}:
        extra = sorted(set(data) - {"members"}) if isinstance(data, dict) else []
        if extra:
            raise BadRequest(f"Unknown attribute for argument members_: {', '.join(extra)}")
        raise BadRequest("Invalid input for field/attribute members. Value: 'None'. "
                         "Mandatory field missing.")
    if not isinstance(data["members"], list):
        raise BadRequest(f"Invalid input for field/attribute members. Value: "
                         f"'{data['members']}'. Value not a valid list")
    return data["members"]


@router.get("/pools/{pool_id}/members/{member_id}")
def show_member(pool_id: str, member_id: str, request: Request,
                session: Session = Depends(deps.db), ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:get_one")
    return one(request, get_member(session, pool, member_id))


@router.put("/pools/{pool_id}/members/{member_id}")
async def update_member(pool_id: str, member_id: str, request: Request,
                        session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:put")
    m = get_member(session, pool, member_id)
    body = parse_body(await request.body(), "member", schema.MemberPUT, "member_")
    _lock(session, pool)
    for f in sent(body):
        v = getattr(body, f)
        if f == "admin_state_up":
            m.enabled = bool(v)
        elif f == "weight":
            m.weight = 1 if v is None else v
        elif f == "backup":
            m.backup = bool(v)
        elif f == "tags":
            m.tags = v or []
        else:
            setattr(m, f, v)
    m.provisioning_status = c.PENDING_UPDATE
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return one(request, m)


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, request: Request,
                  session: Session = Depends(deps.db), ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "member:delete")
    m = get_member(session, pool, member_id)
    _lock(session, pool)
    m.provisioning_status = c.PENDING_DELETE
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return Response(status_code=204)

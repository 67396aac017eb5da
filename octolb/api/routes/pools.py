"""/v2/lbaas/pools."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, listener_tls, locking, quota
from octolb.api.errors import (
    APIError,
    BadRequest,
    Conflict,
    NotFound,
    NotImplementedByProvider,
    ValidationFailure,
)
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.listeners import get_listener
from octolb.api.routes.loadbalancers import get_lb
from octolb.api.schemas import pool as schema
from octolb.api.schemas.parse import parse_body, sent, validate
from octolb.db.models import Pool

router = APIRouter()

COLUMNS = {
    "id": Pool.id, "name": Pool.name, "description": Pool.description,
    "project_id": Pool.project_id, "loadbalancer_id": Pool.load_balancer_id,
    "protocol": Pool.protocol, "lb_algorithm": Pool.lb_algorithm,
    "admin_state_up": Pool.enabled, "provisioning_status": Pool.provisioning_status,
    "operating_status": Pool.operating_status, "tls_enabled": Pool.tls_enabled,
    "created_at": Pool.created_at, "updated_at": Pool.updated_at,
}
_COOKIE_BAD = set(' \t,;\\"()/:;<=>?@[]{}')


def get_pool(session: Session, pool_id: str, ctx: auth.Context,
             action: str = "pool:get_one") -> Pool:
    """The live pool, after the policy `action` (e.g. `member:post`) passed for its
    project."""
    pool = session.get(Pool, pool_id)
    if pool is None or pool.provisioning_status == c.DELETED:
        raise NotFound("Pool", pool_id)
    auth.enforce(ctx, action, pool.project_id)
    return pool


def one(request: Request, pool: Pool) -> dict:
    return {"pool": select_fields(schema.render(pool), request)}


def check_session_persistence(protocol: str, raw: dict | None, current: dict | None = None,
                              ) -> dict | None:
    """Validate and normalise; returns the dict to store (None = no persistence)."""
    if not raw:
        return None
    sp = validate(schema.SessionPersistence, raw, "session_persistence")
    stype = sp.type or (current or {}).get("type")
    if stype is None:
        raise BadRequest("Invalid input for field/attribute type. Value: 'None'. "
                         "Mandatory field missing.")
    if protocol in (c.UDP, c.SCTP):
        if sp.cookie_name:
            raise ValidationFailure("Cookie names are not supported for UDP/SCTP pools.")
        if stype != c.SOURCE_IP:
            raise ValidationFailure(f"Session persistence of type {stype} is not supported for "
                                    "UDP/SCTP protocol pools.")
    else:
        if sp.persistence_timeout is not None or sp.persistence_granularity is not None:
            raise ValidationFailure("persistence_timeout and persistence_granularity is only "
                                    "for UDP and SCTP protocol pools.")
    if sp.cookie_name and stype != c.APP_COOKIE:
        raise ValidationFailure('Field "cookie_name" can only be specified with session '
                                'persistence of type "APP_COOKIE".')
    if stype == c.APP_COOKIE:
        if not sp.cookie_name:
            raise ValidationFailure('Field "cookie_name" must be specified when using the '
                                    '"APP_COOKIE" session persistence type.')
        if any(ch in _COOKIE_BAD or ord(ch) < 33 or ord(ch) > 126 for ch in sp.cookie_name):
            raise ValidationFailure('Supplied "cookie_name" is invalid.')
    return {"type": stype, "cookie_name": sp.cookie_name,
            "persistence_timeout": sp.persistence_timeout,
            "persistence_granularity": sp.persistence_granularity}


def _provider_supports(protocol: str, algorithm: str | None, tls_enabled: bool | None) -> None:
    if protocol in (c.UDP, c.SCTP):
        raise NotImplementedByProvider(f"{protocol} pools are not available yet in this "
                                       "release.")


def new_pool(lb, body, sp: dict | None) -> Pool:
    """The PENDING_CREATE row of a validated pool body (`sp`: its checked persistence)."""
    tls_defaults = listener_tls.pool_defaults(bool(body.tls_enabled))
    return Pool(
        project_id=lb.project_id, load_balancer_id=lb.id, name=body.name,
        description=body.description, protocol=body.protocol,
        lb_algorithm=body.lb_algorithm, enabled=bool(body.admin_state_up),
        session_persistence=sp, tls_enabled=bool(body.tls_enabled),
        tls_container_ref=body.tls_container_ref,
        ca_tls_container_ref=body.ca_tls_container_ref,
        crl_container_ref=body.crl_container_ref,
        **{k: default if getattr(body, k) is None else getattr(body, k)
           for k, default in tls_defaults.items()},
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
        tags=body.tags or [])


@router.get("/pools")
def list_pools(request: Request, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
    where = [Pool.provisioning_status != c.DELETED]
    project = auth.list_scope(ctx, "pool", request)
    if project is not None:
        where.append(Pool.project_id == project)
    return list_resources(request, session, Pool, plural="pools", columns=COLUMNS,
                          render=schema.render, where=where)


@router.post("/pools", status_code=201)
async def create_pool(request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "pool", schema.PoolPOST, "pool_")
    if not body.loadbalancer_id and not body.listener_id:
        raise ValidationFailure("Must provide at least one of: loadbalancer_id, listener_id")
    listener = None
    if body.listener_id:
        listener = get_listener(session, body.listener_id, ctx, "pool:post")
        lb = listener.load_balancer
        if body.loadbalancer_id and body.loadbalancer_id != lb.id:
            raise ValidationFailure("The listener is not on the specified load balancer.")
        if listener.protocol == c.PROMETHEUS:
            raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
        if body.protocol not in c.LISTENER_POOL_PROTOCOLS[listener.protocol]:
            raise ValidationFailure(f"The pool protocol '{body.protocol}' is invalid while "
                                    f"the listener protocol is '{listener.protocol}'.")
    else:
        lb = get_lb(session, body.loadbalancer_id, ctx, "pool:post")
    sp = check_session_persistence(body.protocol, body.session_persistence)
    _provider_supports(body.protocol, body.lb_algorithm, body.tls_enabled)
    if listener is not None and listener.default_pool_id is not None:
        raise Conflict("This listener already has a default pool")
    quota.check_and_reserve(session, lb.project_id, "pool")
    locking.take_lb(session, lb)
    try:
        listener_tls.check_pool(session, listener_tls.pool_view(body), lb.project_id)
    except APIError:
        session.rollback()
        raise
    pool = new_pool(lb, body, sp)
    session.add(pool)
    session.flush()
    if listener is not None:
        listener.default_pool_id = pool.id
        locking.mark_pending_update(listener)
    session.commit()
    session.refresh(pool)
    deps.notify(request, lb.id)
    return one(request, pool)


@router.get("/pools/{pool_id}")
def show_pool(pool_id: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    return one(request, get_pool(session, pool_id, ctx))


@router.put("/pools/{pool_id}")
async def update_pool(pool_id: str, request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "pool", schema.PoolPUT, "pool_")
    pool = get_pool(session, pool_id, ctx, "pool:put")
    fields = sent(body)
    sp = pool.session_persistence
    if "session_persistence" in fields:
        sp = check_session_persistence(pool.protocol, body.session_persistence,
                                       pool.session_persistence)
    if "lb_algorithm" in fields and body.lb_algorithm is None:
        raise BadRequest("None is not a valid option for lb_algorithm")
    _provider_supports(pool.protocol, body.lb_algorithm, body.tls_enabled)
    tls_changes = {f: getattr(body, f) for f in fields if f in listener_tls.POOL_FIELDS}
    if tls_changes:
        merged = listener_tls.pool_view(pool, tls_changes)
        tls_defaults = listener_tls.pool_defaults(merged["tls_enabled"])
        for f in tls_defaults:  # null restores the default
            if f in tls_changes and tls_changes[f] is None:
                merged[f] = tls_changes[f] = tls_defaults[f]
        listener_tls.check_pool(session, merged, pool.project_id, fetch=set(tls_changes),
                                update=True)
    locking.take_lb(session, pool.load_balancer)
    for f in fields:
        v = getattr(body, f)
        if f == "admin_state_up":
            pool.enabled = bool(v)
        elif f == "session_persistence":
            pool.session_persistence = sp
        elif f == "tags":
            pool.tags = v or []
        elif f == "tls_enabled":
            pool.tls_enabled = bool(v)
        elif f in ("tls_ciphers", "tls_versions", "alpn_protocols"):
            setattr(pool, f, tls_changes[f])
        else:
            setattr(pool, f, v)
    pool.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return one(request, pool)


@router.delete("/pools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    pool = get_pool(session, pool_id, ctx, "pool:delete")
    in_use = [p for p in pool.l7policies if p.provisioning_status != c.DELETED]
    if in_use:
        raise Conflict(f"Pool {pool.id} is in use by L7 policy {in_use[0].id}")
    locking.take_lb(session, pool.load_balancer)
    pool.provisioning_status = c.PENDING_DELETE
    locking.mark_pending_update(*locking.listeners_of_pool(pool))
    session.commit()
    deps.notify(request, pool.load_balancer_id)
    return Response(status_code=204)


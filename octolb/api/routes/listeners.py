"""/v2/lbaas/listeners."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
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
from octolb.api.routes.loadbalancers import get_lb
from octolb.api.schemas import listener as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.config import CONF
from octolb.db import stats as stats_view
from octolb.db.models import Listener, LoadBalancer, Pool

router = APIRouter()

COLUMNS = {
    "id": Listener.id, "name": Listener.name, "description": Listener.description,
    "project_id": Listener.project_id, "loadbalancer_id": Listener.load_balancer_id,
    "protocol": Listener.protocol, "protocol_port": Listener.protocol_port,
    "connection_limit": Listener.connection_limit, "default_pool_id": Listener.default_pool_id,
    "admin_state_up": Listener.enabled, "provisioning_status": Listener.provisioning_status,
    "operating_status": Listener.operating_status,
    "timeout_client_data": Listener.timeout_client_data,
    "timeout_member_connect": Listener.timeout_member_connect,
    "timeout_member_data": Listener.timeout_member_data,
    "timeout_tcp_inspect": Listener.timeout_tcp_inspect,
    "client_authentication": Listener.client_authentication,
    "tls_ciphers": Listener.tls_ciphers, "hsts_max_age": Listener.hsts_max_age,
    "created_at": Listener.created_at, "updated_at": Listener.updated_at,
}

# What the amphora data path of this release delivers; the API accepts and validates the
# rest and answers 501 as Octavia's providers do.
SUPPORTED_PROTOCOLS = (c.HTTP, c.HTTPS, c.TCP, c.TERMINATED_HTTPS)
TIMEOUT_DEFAULTS = ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                    "timeout_tcp_inspect")


def get_listener(session: Session, listener_id: str, ctx: auth.Context,
                 action: str = "listener:get_one") -> Listener:
    """The live listener, after the policy `action` passed for its project."""
    lis = session.get(Listener, listener_id)
    if lis is None or lis.provisioning_status == c.DELETED:
        raise NotFound("Listener", listener_id)
    auth.enforce(ctx, action, lis.project_id)
    return lis


def one(request: Request, lis: Listener) -> dict:
    return {"listener": select_fields(schema.render(lis), request)}


def _check_default_pool(session: Session, lb: LoadBalancer, protocol: str,
                        pool_id: str | None) -> Pool | None:
    if pool_id is None:
        return None
    if protocol == c.PROMETHEUS:
        raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
    pool = session.get(Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb.id or pool.provisioning_status == c.DELETED:
        raise NotFound("Pool", pool_id)
    if pool.protocol not in c.LISTENER_POOL_PROTOCOLS[protocol]:
        raise ValidationFailure(f"The pool protocol '{pool.protocol}' is invalid while the "
                                f"listener protocol is '{protocol}'.")
    return pool


def _check_insert_headers(protocol: str, headers: dict | None) -> None:
    if not headers:
        return
    if protocol not in (c.HTTP, c.TERMINATED_HTTPS):
        raise BadRequest(f"insert-headers is not a valid option for a {protocol} protocol "
                         "listener.")
    unknown = [k for k in headers if k not in c.INSERT_HEADERS_HTTP + c.INSERT_HEADERS_SSL]
    if unknown:
        raise BadRequest(f"{unknown} is not a valid option for insert_headers")
    ssl = [k for k in headers if k in c.INSERT_HEADERS_SSL]
    if ssl and protocol == c.HTTP:
        raise BadRequest(f"{ssl} is not a valid option for HTTP protocol listener.")
    for k, v in headers.items():
        if not isinstance(v, str):
            raise BadRequest(f"Invalid input for field/attribute insert_headers. Value: "
                             f"'{headers}'. Value should be string")
        if v.lower() not in ("true", "false"):
            raise BadRequest(f"Invalid input for field/attribute insert_headers. Value: "
                             f"'{headers}'. Header {k} value must be 'true' or 'false'")


def _provider_supports(protocol: str, body) -> None:
    if protocol not in SUPPORTED_PROTOCOLS:
        raise NotImplementedByProvider(f"{protocol} listeners are not available yet in this "
                                       "release.")


def _allowed_cidrs(lb: LoadBalancer, cidrs: list[str] | None) -> list[str] | None:
    """What is stored: the networks normalised (`192.0.2.7/24` -> `192.0.2.0/24`) and
    de-duplicated in the order given; None (open to all) for null or []. Each must have
    the IP version of the VIP."""
    if not cidrs:
        return None
    vips = [lb.vip_address] if lb.vip_address else []
    versions = {ipaddress.ip_address(vip).version for vip in vips}
    networks = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        if vips and network.version not in versions:
            raise ValidationFailure(f"CIDR {cidr} IP version incompatible with all VIPs "
                                    f"{vips} IP version.")
        networks.append(network.compressed)
    return list(dict.fromkeys(networks))


def check_new_listener(session: Session, lb: LoadBalancer, body) -> tuple[str, list | None]:
    """The checks of a new listener on `lb` that follow the lock (§9.2.2 steps 4-18; also
    used by the graph create). Returns its L4 family and the allowed_cidrs to store."""
    _check_insert_headers(body.protocol, body.insert_headers)
    listener_tls.check(session, body.protocol, listener_tls.view(body), lb.project_id)
    family = c.L4_FAMILY[body.protocol]
    clash = session.scalar(select(Listener).where(
        Listener.load_balancer_id == lb.id, Listener.protocol_port == body.protocol_port,
        Listener.l4_family == family))
    if clash is not None:
        raise Conflict("Another Listener on this Load Balancer is already using protocol "
                       f"{clash.protocol} and protocol_port {body.protocol_port}")
    _provider_supports(body.protocol, body)
    return family, _allowed_cidrs(lb, body.allowed_cidrs)


def new_listener(lb: LoadBalancer, body, family: str, allowed_cidrs: list | None) -> Listener:
    """The PENDING_CREATE row of a validated listener body."""
    hap = CONF.haproxy_amphora
    return Listener(
        project_id=lb.project_id, load_balancer_id=lb.id, name=body.name,
        description=body.description, protocol=body.protocol, l4_family=family,
        protocol_port=body.protocol_port, enabled=bool(body.admin_state_up),
        connection_limit=-1 if body.connection_limit is None else body.connection_limit,
        default_pool_id=body.default_pool_id,
        insert_headers=body.insert_headers or {}, allowed_cidrs=allowed_cidrs,
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
        tags=body.tags or [], client_authentication=body.client_authentication or "NONE",
        default_tls_container_ref=body.default_tls_container_ref,
        sni_container_refs=body.sni_container_refs or [],
        client_ca_tls_container_ref=body.client_ca_tls_container_ref,
        client_crl_container_ref=body.client_crl_container_ref,
        hsts_max_age=body.hsts_max_age, hsts_include_subdomains=bool(body.hsts_include_subdomains),
        hsts_preload=bool(body.hsts_preload),
        **{k: (getattr(body, k) if getattr(body, k) is not None else default)
           for k, default in listener_tls.defaults(body.protocol).items()},
        **{k: (getattr(body, k) if getattr(body, k) is not None else getattr(hap, k))
           for k in TIMEOUT_DEFAULTS})


@router.get("/listeners")
def list_listeners(request: Request, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    where = [Listener.provisioning_status != c.DELETED]
    project = auth.list_scope(ctx, "listener", request)
    if project is not None:
        where.append(Listener.project_id == project)
    return list_resources(request, session, Listener, plural="listeners", columns=COLUMNS,
                          render=schema.render, where=where)


@router.post("/listeners", status_code=201)
async def create_listener(request: Request, session: Session = Depends(deps.db),
                          ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "listener", schema.ListenerPOST, "listener_")
    lb = get_lb(session, body.loadbalancer_id, ctx, "listener:post")
    pool = _check_default_pool(session, lb, body.protocol, body.default_pool_id)
    quota.check_and_reserve(session, lb.project_id, "listener")
    locking.take_lb(session, lb)
    try:
        family, allowed_cidrs = check_new_listener(session, lb, body)
    except APIError:
        session.rollback()
        raise
    lis = new_listener(lb, body, family, allowed_cidrs)
    session.add(lis)
    locking.mark_pending_update(pool)
    session.commit()
    deps.notify(request, lb.id)
    return one(request, lis)


@router.get("/listeners/{listener_id}")
def show_listener(listener_id: str, request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    return one(request, get_listener(session, listener_id, ctx))


@router.put("/listeners/{listener_id}")
async def update_listener(listener_id: str, request: Request,
                          session: Session = Depends(deps.db),
                          ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "listener", schema.ListenerPUT, "listener_")
    lis = get_listener(session, listener_id, ctx, "listener:put")
    lb = lis.load_balancer
    fields = sent(body)
    pool = None
    if "default_pool_id" in fields:
        pool = _check_default_pool(session, lb, lis.protocol, body.default_pool_id)
    _check_insert_headers(lis.protocol, body.insert_headers)
    tls_defaults = listener_tls.defaults(lis.protocol)
    tls_changes = {f: (tls_defaults[f] if getattr(body, f) is None and f in tls_defaults
                       else getattr(body, f)) for f in fields if f in listener_tls.FIELDS}
    listener_tls.check(session, lis.protocol, listener_tls.view(lis, tls_changes),
                       lis.project_id, fetch=set(tls_changes), update=True)
    allowed_cidrs = _allowed_cidrs(lb, body.allowed_cidrs)
    locking.take_lb(session, lb)
    hap = CONF.haproxy_amphora
    for f in fields:
        v = getattr(body, f)
        if f == "admin_state_up":
            lis.enabled = bool(v)
        elif f == "connection_limit":
            lis.connection_limit = -1 if v is None else v
        elif f in TIMEOUT_DEFAULTS:
            setattr(lis, f, getattr(hap, f) if v is None else v)
        elif f == "client_authentication":
            lis.client_authentication = v or "NONE"
        elif f in ("insert_headers",):
            lis.insert_headers = v or {}
        elif f == "allowed_cidrs":
            lis.allowed_cidrs = allowed_cidrs
        elif f in ("tags", "sni_container_refs"):
            setattr(lis, f, v or [])
        elif f in ("hsts_include_subdomains", "hsts_preload"):
            setattr(lis, f, bool(v))
        elif f in ("tls_ciphers", "tls_versions", "alpn_protocols"):
            setattr(lis, f, tls_changes[f])
        else:
            setattr(lis, f, v)
    lis.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(pool)
    session.commit()
    deps.notify(request, lb.id)
    return one(request, lis)


@router.delete("/listeners/{listener_id}", status_code=204)
def delete_listener(listener_id: str, request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    lis = get_listener(session, listener_id, ctx, "listener:delete")
    locking.take_lb(session, lis.load_balancer)
    lis.provisioning_status = c.PENDING_DELETE
    session.commit()
    deps.notify(request, lis.load_balancer_id)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_stats(listener_id: str, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    lis = get_listener(session, listener_id, ctx, "listener:get_stats")
    return {"stats": stats_view.for_listeners(session, [lis.id])}

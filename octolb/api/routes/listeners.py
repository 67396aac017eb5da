"""/v2/lbaas/listeners."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking
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
SUPPORTED_PROTOCOLS = (c.HTTP, c.HTTPS, c.TCP)
TIMEOUT_DEFAULTS = ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                    "timeout_tcp_inspect")


def get_listener(session: Session, listener_id: str, ctx: auth.Context) -> Listener:
    lis = session.get(Listener, listener_id)
    if lis is None or lis.provisioning_status == c.DELETED:
        raise NotFound("Listener", listener_id)
    auth.authorize(ctx, lis.project_id)
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


def _check_tls_fields(protocol: str, body) -> None:
    has_tls = bool(body.default_tls_container_ref or body.sni_container_refs
                   or body.client_ca_tls_container_ref or body.client_crl_container_ref)
    if protocol in (c.UDP, c.SCTP) and (has_tls or body.insert_headers):
        raise ValidationFailure(f"{protocol} protocol listener does not support TLS.")
    if has_tls and protocol not in (c.TERMINATED_HTTPS, c.PROMETHEUS):
        raise ValidationFailure("Certificate container references are not allowed on "
                                f"{protocol} protocol listeners.")
    if protocol == c.TERMINATED_HTTPS and not (body.default_tls_container_ref
                                                or body.sni_container_refs):
        raise ValidationFailure("An SNI or default certificate container reference must be "
                                f"provided for {protocol} protocol listeners.")
    if (body.hsts_include_subdomains or body.hsts_preload) and body.hsts_max_age is None:
        raise ValidationFailure("HSTS configuration options hsts_include_subdomains and "
                                "hsts_preload only make sense if hsts_max_age is set as well.")
    if body.hsts_max_age is not None and protocol != c.TERMINATED_HTTPS:
        raise ValidationFailure("The HSTS feature can only be used for listeners using the "
                                "TERMINATED_HTTPS protocol.")


def _provider_supports(protocol: str, body) -> None:
    if protocol not in SUPPORTED_PROTOCOLS:
        raise NotImplementedByProvider(f"{protocol} listeners are not available yet in this "
                                       "release.")
    if body.allowed_cidrs:
        raise NotImplementedByProvider("allowed_cidrs is not available yet in this release.")


@router.get("/listeners")
def list_listeners(request: Request, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    where = [Listener.provisioning_status != c.DELETED]
    if not ctx.is_admin:
        where.append(Listener.project_id == ctx.project_id)
    return list_resources(request, session, Listener, plural="listeners", columns=COLUMNS,
                          render=schema.render, where=where)


@router.post("/listeners", status_code=201)
async def create_listener(request: Request, session: Session = Depends(deps.db),
                          ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "listener", schema.ListenerPOST, "listener_")
    lb = get_lb(session, body.loadbalancer_id, ctx)
    pool = _check_default_pool(session, lb, body.protocol, body.default_pool_id)
    locking.take_lb(session, lb)
    try:
        _check_insert_headers(body.protocol, body.insert_headers)
        _check_tls_fields(body.protocol, body)
        family = c.L4_FAMILY[body.protocol]
        clash = session.scalar(select(Listener).where(
            Listener.load_balancer_id == lb.id, Listener.protocol_port == body.protocol_port,
            Listener.l4_family == family))
        if clash is not None:
            raise Conflict("Another Listener on this Load Balancer is already using protocol "
                           f"{clash.protocol} and protocol_port {body.protocol_port}")
        _provider_supports(body.protocol, body)
    except APIError:
        session.rollback()
        raise
    hap = CONF.haproxy_amphora
    lis = Listener(
        project_id=lb.project_id, load_balancer_id=lb.id, name=body.name,
        description=body.description, protocol=body.protocol, l4_family=family,
        protocol_port=body.protocol_port, enabled=bool(body.admin_state_up),
        connection_limit=-1 if body.connection_limit is None else body.connection_limit,
        default_pool_id=body.default_pool_id,
        insert_headers=body.insert_headers or {},
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
        tags=body.tags or [], client_authentication=body.client_authentication or "NONE",
        tls_versions=body.tls_versions, alpn_protocols=body.alpn_protocols,
        tls_ciphers=body.tls_ciphers,
        **{k: (getattr(body, k) if getattr(body, k) is not None else getattr(hap, k))
           for k in TIMEOUT_DEFAULTS})
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
    lis = get_listener(session, listener_id, ctx)
    lb = lis.load_balancer
    fields = sent(body)
    pool = None
    if "default_pool_id" in fields:
        pool = _check_default_pool(session, lb, lis.protocol, body.default_pool_id)
    _check_insert_headers(lis.protocol, body.insert_headers)
    _check_tls_fields(lis.protocol, body)
    if body.allowed_cidrs:
        raise NotImplementedByProvider("allowed_cidrs is not available yet in this release.")
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
        elif f in ("tags", "sni_container_refs"):
            setattr(lis, f, v or [])
        elif f in ("hsts_include_subdomains", "hsts_preload"):
            setattr(lis, f, bool(v))
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
    lis = get_listener(session, listener_id, ctx)
    locking.take_lb(session, lis.load_balancer)
    lis.provisioning_status = c.PENDING_DELETE
    session.commit()
    deps.notify(request, lis.load_balancer_id)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_stats(listener_id: str, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    lis = get_listener(session, listener_id, ctx)
    return {"stats": stats_view.for_listeners(session, [lis.id])}

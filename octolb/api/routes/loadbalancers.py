"""/v2/lbaas/loadbalancers: create (with VIP allocation), show, list, update, delete
(cascade), stats, status tree, failover."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from oslo_utils import strutils
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking, quota
from octolb.api.errors import APIError, BadRequest, NotFound, ValidationFailure
from octolb.api.query import list_resources, select_fields
from octolb.api.routes import availability_zones as zone_routes
from octolb.api.routes import flavors as flavor_routes
from octolb.api.schemas import load_balancer as schema
from octolb.api.schemas.parse import parse_body, sent
from octolb.config import CONF
from octolb.db import flavors as flavors_db
from octolb.db import stats as stats_view
from octolb.db.models import LoadBalancer, new_id
from octolb.network import local as network
from octolb.network.base import network_driver

router = APIRouter()

COLUMNS = {
    "id": LoadBalancer.id, "name": LoadBalancer.name, "description": LoadBalancer.description,
    "project_id": LoadBalancer.project_id,
    "provisioning_status": LoadBalancer.provisioning_status,
    "operating_status": LoadBalancer.operating_status, "admin_state_up": LoadBalancer.enabled,
    "provider": LoadBalancer.provider, "flavor_id": LoadBalancer.flavor_id,
    "availability_zone": LoadBalancer.availability_zone,
    "vip_address": LoadBalancer.vip_address, "vip_port_id": LoadBalancer.vip_port_id,
    "vip_subnet_id": LoadBalancer.vip_subnet_id, "vip_network_id": LoadBalancer.vip_network_id,
    "vip_qos_policy_id": LoadBalancer.vip_qos_policy_id,
    "created_at": LoadBalancer.created_at, "updated_at": LoadBalancer.updated_at,
}


def get_lb(session: Session, lb_id: str, ctx: auth.Context,
           action: str = "loadbalancer:get_one") -> LoadBalancer:
    """The live LB, after the policy `action` (e.g. `listener:post` for a child created on
    it) passed for the LB's project."""
    lb = session.get(LoadBalancer, lb_id)
    if lb is None or lb.provisioning_status == c.DELETED:
        raise NotFound("Load Balancer", lb_id)
    auth.enforce(ctx, action, lb.project_id)
    return lb


def one(request: Request, lb: LoadBalancer) -> dict:
    return {"loadbalancer": select_fields(schema.render(lb), request)}



@router.get("/loadbalancers")
def list_lbs(request: Request, session: Session = Depends(deps.db),
             ctx: auth.Context = Depends(auth.context)):
    where = [LoadBalancer.provisioning_status != c.DELETED]
    project = auth.list_scope(ctx, "loadbalancer", request)
    if project is not None:
        where.append(LoadBalancer.project_id == project)
    return list_resources(request, session, LoadBalancer, plural="loadbalancers",
                          columns=COLUMNS, render=schema.render, where=where)


@router.post("/loadbalancers", status_code=201)
async def create_lb(request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "loadbalancer", schema.LoadBalancerPOST,
                      "load_balancer")
    project = body.project_id or body.tenant_id or ctx.project_id
    if not project:
        raise ValidationFailure("Missing project ID in request where one is required. An "
                                "administrator should check the keystone settings in the "
                                "Octavia configuration.")
    auth.enforce(ctx, "loadbalancer:post", project)
    if body.vip_sg_ids:
        auth.enforce(ctx, "loadbalancer:post:vip_sg_ids", project)
    if not (body.vip_port_id or body.vip_network_id or body.vip_subnet_id):
        raise ValidationFailure(
            "VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    provider = body.provider or CONF.api_settings.default_provider_driver
    if provider not in CONF.api_settings.enabled_provider_drivers:
        raise BadRequest(f"Provider '{provider}' is not enabled.")
    # a fully populated create: every nested body checked before anything is allocated
    from octolb.api import graph  # the child routes it uses import this module
    spec = graph.parse(body.listeners, body.pools) if body.listeners or body.pools else None
    flavor_meta: dict = {}
    if body.flavor_id:  # the flavor profile's provider builds the LB
        provider, flavor_meta = flavor_routes.for_new_lb(session, body.flavor_id, body.provider)
    zone_meta = (zone_routes.for_new_lb(session, body.availability_zone, provider)
                 if body.availability_zone else {})
    if body.vip_qos_policy_id:
        raise ValidationFailure("VIP QoS policy is not allowed in this deployment.")
    if body.vip_sg_ids or body.additional_vips:
        raise APIError(f"Provider '{provider}' does not support a requested option: "
                       "vip_sg_ids and additional_vips are not available yet.", 501)

    lb_id = new_id()
    try:
        vip = network_driver().allocate_vip(
            session, lb_id, project_id=project, port_id=body.vip_port_id,
            network_id=body.vip_network_id, subnet_id=body.vip_subnet_id,
            address=body.vip_address)
    except network.NetworkError as exc:
        raise APIError(exc.message, exc.status) from None
    zone_routes.check_vip_network(zone_meta, vip.network_id)
    quota.check_and_reserve(session, project, "load_balancer")
    lb = LoadBalancer(
        id=lb_id, project_id=project, name=body.name, description=body.description,
        enabled=bool(body.admin_state_up), provider=provider,
        topology=flavor_meta.get(flavors_db.TOPOLOGY,
                                 CONF.controller_worker.loadbalancer_topology),
        flavor_id=body.flavor_id, availability_zone=body.availability_zone,
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
        tags=body.tags or [],
        vip_address=vip.address, vip_port_id=vip.port_id, vip_subnet_id=vip.subnet_id,
        vip_network_id=vip.network_id)
    session.add(lb)
    if spec is not None:
        graph.build(session, lb, spec)  # same transaction: an error leaves nothing behind
    session.commit()
    deps.notify(request, lb.id)
    if spec is not None:
        return {"loadbalancer": select_fields(graph.render_full(lb), request)}
    return one(request, lb)


@router.get("/loadbalancers/{lb_id}")
def show_lb(lb_id: str, request: Request, session: Session = Depends(deps.db),
            ctx: auth.Context = Depends(auth.context)):
    return one(request, get_lb(session, lb_id, ctx))


@router.put("/loadbalancers/{lb_id}")
async def update_lb(lb_id: str, request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "loadbalancer", schema.LoadBalancerPUT,
                      "load_balancer")
    lb = get_lb(session, lb_id, ctx, "loadbalancer:put")
    fields = sent(body)
    if "vip_sg_ids" in fields:
        auth.enforce(ctx, "loadbalancer:put:vip_sg_ids", lb.project_id)
    if "vip_qos_policy_id" in fields and body.vip_qos_policy_id is not None:
        raise ValidationFailure("VIP QoS policy is not allowed in this deployment.")
    if "vip_sg_ids" in fields and body.vip_sg_ids:
        raise APIError("Provider 'amphora' does not support a requested option: "
                       "vip_sg_ids are not available yet.", 501)
    # From ERROR too (Octavia: 409): a plain update is how a tenant retries a broken LB.
    locking.take_lb(session, lb, allowed=(c.ACTIVE, c.ERROR), invalid_state_msg=True)
    if "name" in fields:
        lb.name = body.name
    if "description" in fields:
        lb.description = body.description
    if "admin_state_up" in fields:
        lb.enabled = bool(body.admin_state_up)
    if "tags" in fields:
        lb.tags = body.tags or []
    session.commit()
    deps.notify(request, lb.id)
    return one(request, lb)


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete_lb(lb_id: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    lb = get_lb(session, lb_id, ctx, "loadbalancer:delete")
    cascade = strutils.bool_from_string(request.query_params.get("cascade", "false"))
    live_children = [o for o in lb.listeners + lb.pools if o.provisioning_status != c.DELETED]
    if live_children and not cascade:
        raise ValidationFailure(f"Cannot delete Load Balancer {lb.id} - it has children")
    locking.take_lb(session, lb, to=c.PENDING_DELETE, allowed=(c.ACTIVE, c.ERROR),
                    invalid_state_msg=True)
    session.commit()
    deps.notify(request, lb.id)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/stats")
def lb_stats(lb_id: str, session: Session = Depends(deps.db),
             ctx: auth.Context = Depends(auth.context)):
    lb = get_lb(session, lb_id, ctx, "loadbalancer:get_stats")
    return {"stats": stats_view.for_listeners(session, [lis.id for lis in lb.listeners])}


@router.get("/loadbalancers/{lb_id}/status")
@router.get("/loadbalancers/{lb_id}/statuses")
def lb_status(lb_id: str, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    return schema.render_status_tree(get_lb(session, lb_id, ctx, "loadbalancer:get_status"))


@router.put("/loadbalancers/{lb_id}/failover", status_code=202)
def failover_lb(lb_id: str, request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    lb = get_lb(session, lb_id, ctx, "loadbalancer:put_failover")
    locking.take_lb(session, lb, allowed=(c.ACTIVE, c.ERROR), invalid_state_msg=True)
    lb.failover_requested = True  # the worker replaces the amphorae when it sees this
    session.commit()
    deps.notify(request, lb.id)
    return Response(status_code=202)

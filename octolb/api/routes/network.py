"""The minimal network API (Neutron v2.0 shapes) under `/network`: what the stock clients
ask when they resolve `--vip-subnet-id private-subnet`, plus create/delete of networks,
subnets and ports (a port made here can be handed to `--vip-port-id`). Its own root,
because the SDK discovers versions at the network endpoint's root.

Authorization follows Neutron with octolb's `network:*` rules (octolb/api/policy.py): a
caller sees its project's objects and shared networks with their subnets (an admin sees
all); an object it cannot see is 404, one it sees but may not change is 403
PolicyNotAuthorized; a body `project_id`/`tenant_id` is checked like the caller's own."""

from __future__ import annotations

import datetime as dt
import json

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from octolb.api import auth, deps
from octolb.db.models import Network, Port, Subnet
from octolb.network import local as network

router = APIRouter(prefix="/network")


def _neutron_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"NeutronError": {"type": kind, "message": message, "detail": ""}},
                        status_code=status)


def _ts(v: dt.datetime | None) -> str | None:
    return v.strftime("%Y-%m-%dT%H:%M:%SZ") if v else None


def render_network(n: Network) -> dict:
    return {
        "id": n.id, "name": n.name or "", "tenant_id": n.project_id or "",
        "project_id": n.project_id or "", "admin_state_up": n.admin_state_up,
        "status": "ACTIVE", "subnets": [s.id for s in n.subnets], "shared": n.shared,
        "mtu": n.mtu, "router:external": False, "port_security_enabled": False,
        "availability_zones": [], "availability_zone_hints": [], "description": "",
        "tags": [], "revision_number": 1, "created_at": _ts(n.created_at),
        "updated_at": _ts(n.updated_at or n.created_at), "is_default": False,
        "provider:network_type": "local", "provider:physical_network": None,
        "provider:segmentation_id": None, "ipv4_address_scope": None,
        "ipv6_address_scope": None, "qos_policy_id": None,
    }


def render_subnet(s: Subnet) -> dict:
    start, end = network.allocation_range(s)
    return {
        "id": s.id, "name": s.name or "", "network_id": s.network_id,
        "tenant_id": s.project_id or "", "project_id": s.project_id or "",
        "cidr": s.cidr, "ip_version": s.ip_version, "gateway_ip": s.gateway_ip,
        "allocation_pools": [{"start": start, "end": end}], "enable_dhcp": False,
        "dns_nameservers": [], "host_routes": [], "ipv6_ra_mode": None,
        "ipv6_address_mode": None, "subnetpool_id": None, "description": "", "tags": [],
        "service_types": [], "segment_id": None, "revision_number": 0,
        "created_at": _ts(s.created_at), "updated_at": _ts(s.updated_at or s.created_at),
    }


def render_port(p: Port) -> dict:
    return {
        "id": p.id, "name": p.name or "", "network_id": p.network_id,
        "tenant_id": p.project_id or "", "project_id": p.project_id or "",
        "mac_address": p.mac_address, "admin_state_up": p.admin_state_up, "status": "ACTIVE",
        "device_id": p.device_id or "", "device_owner": p.device_owner or "",
        "fixed_ips": [{"subnet_id": f.subnet_id, "ip_address": f.ip_address}
                      for f in p.fixed_ips],
        "security_groups": [], "allowed_address_pairs": [], "extra_dhcp_opts": [],
        "binding:vnic_type": "normal", "port_security_enabled": False, "description": "",
        "tags": [], "revision_number": 1, "qos_policy_id": None,
        "created_at": _ts(p.created_at), "updated_at": _ts(p.updated_at or p.created_at),
    }


KINDS = {
    "networks": (Network, "network", render_network),
    "subnets": (Subnet, "subnet", render_subnet),
    "ports": (Port, "port", render_port),
}


def _policy_target(project_id: str | None, shared: bool) -> dict:
    """A rule's target. An object of no project (the seeded `private`) is nobody's: its
    project is "", which no caller's project matches (None would match a caller without
    a project)."""
    return {"project_id": project_id or "", "shared": shared}


def _target(obj: Network | Subnet | Port) -> dict:
    """The owning project (a subnet's is its network's, Neutron's network owner) and
    whether the object is visible to all (a shared network and its subnets)."""
    if isinstance(obj, Network):
        return _policy_target(obj.project_id, obj.shared)
    if isinstance(obj, Subnet):
        return _policy_target(obj.network.project_id, obj.network.shared)
    return _policy_target(obj.project_id, False)


def _visible(ctx: auth.Context, single: str, obj) -> bool:
    return auth.allowed_on(ctx, f"network:get_{single}", _target(obj))


def _refused(ctx: auth.Context, rule: str, target: dict) -> JSONResponse | None:
    """Neutron's 403 when `rule` refuses `target`, else None."""
    if auth.allowed_on(ctx, rule, target):
        return None
    return _neutron_error(403, "PolicyNotAuthorized", f"rule:{rule} is disallowed by policy")


def _not_found(single: str, obj_id: object) -> JSONResponse:
    word = single.capitalize()
    return _neutron_error(404, f"{word}NotFound", f"{word} {obj_id} could not be found.")


def _named(body: dict) -> bool:
    return any(body.get(k) is not None for k in ("project_id", "tenant_id"))


def _project(body: dict, ctx: auth.Context) -> str | None | JSONResponse:
    """The project a create is for: the body's `project_id`/`tenant_id` (checked by the
    create rule like any other target: a non-admin naming another project gets 403), else
    the caller's."""
    named = [body[k] for k in ("project_id", "tenant_id") if body.get(k) is not None]
    if any(not isinstance(v, str) or not v or len(v) > 255 for v in named):
        return _neutron_error(400, "HTTPBadRequest", "Invalid input for project_id.")
    if len(set(named)) > 1:
        return _neutron_error(400, "HTTPBadRequest",
                              "'project_id' and 'tenant_id' do not match.")
    return named[0] if named else ctx.project_id


def _matches(doc: dict, request: Request) -> bool:
    for key in set(request.query_params.keys()) - {"fields", "limit", "marker", "sort_key",
                                                   "sort_dir", "page_reverse"}:
        wanted = request.query_params.getlist(key)
        have = doc.get(key)
        if key == "fixed_ips":
            continue
        if isinstance(have, bool):
            have = str(have).lower()
            wanted = [w.lower() for w in wanted]
        if str(have) not in wanted:
            return False
    return True


def _fields(doc: dict, request: Request) -> dict:
    fields = request.query_params.getlist("fields")
    return {k: v for k, v in doc.items() if k in fields} if fields else doc


@router.get("/")
def versions(request: Request):
    base = str(request.url).rstrip("/")
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"href": f"{base}/v2.0/", "rel": "self"}]}]}


@router.get("/v2.0/extensions")
def extensions():
    return {"extensions": []}


@router.get("/v2.0/{kind}")
def list_kind(kind: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    if kind not in KINDS:
        return _neutron_error(404, "HTTPNotFound", "The resource could not be found.")
    model, single, render = KINDS[kind]
    docs = [render(o) for o in session.scalars(select(model).order_by(model.created_at))
            if _visible(ctx, single, o)]
    return {kind: [_fields(d, request) for d in docs if _matches(d, request)]}


@router.get("/v2.0/{kind}/{obj_id}")
def show_kind(kind: str, obj_id: str, request: Request, session: Session = Depends(deps.db),
              ctx: auth.Context = Depends(auth.context)):
    if kind not in KINDS:
        return _neutron_error(404, "HTTPNotFound", "The resource could not be found.")
    model, single, render = KINDS[kind]
    obj = session.get(model, obj_id)
    if obj is None or not _visible(ctx, single, obj):
        return _not_found(single, obj_id)
    return {single: _fields(render(obj), request)}


async def _body(request: Request, key: str) -> dict | JSONResponse:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return _neutron_error(400, "BadRequest", "Malformed JSON in request body.")
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        return _neutron_error(400, "BadRequest", f"Resource body required: {key}.")
    return data[key]


@router.post("/v2.0/networks", status_code=201)
async def create_network(request: Request, session: Session = Depends(deps.db),
                         ctx: auth.Context = Depends(auth.context)):
    body = await _body(request, "network")
    if isinstance(body, JSONResponse):
        return body
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        return _neutron_error(400, "HTTPBadRequest", "Invalid input for name.")
    shared = body.get("shared", False)
    if not isinstance(shared, bool):
        return _neutron_error(400, "HTTPBadRequest", "Invalid input for shared.")
    project = _project(body, ctx)
    if isinstance(project, JSONResponse):
        return project
    target = _policy_target(project, shared)
    refused = _refused(ctx, "network:create_network", target) or (
        _refused(ctx, "network:create_network:shared", target) if shared else None)
    if refused is not None:
        return refused
    net = Network(name=name, project_id=project, shared=shared)
    session.add(net)
    session.commit()
    session.refresh(net)
    return {"network": render_network(net)}


@router.post("/v2.0/subnets", status_code=201)
async def create_subnet(request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    body = await _body(request, "subnet")
    if isinstance(body, JSONResponse):
        return body
    net = session.get(Network, str(body.get("network_id")))
    if net is None or not _visible(ctx, "network", net):
        return _not_found("network", body.get("network_id"))
    project = _project(body, ctx)
    if isinstance(project, JSONResponse):
        return project
    # the network's owner (or an admin) makes its subnets, which belong to the network's
    # project; a body project is checked as well (a non-admin naming another one: 403)
    owners = {net.project_id} | ({project} if _named(body) else set())
    for owner in owners:
        refused = _refused(ctx, "network:create_subnet", _policy_target(owner, net.shared))
        if refused is not None:
            return refused
    if not isinstance(body.get("cidr"), str):
        return _neutron_error(400, "HTTPBadRequest", "Invalid input for cidr.")
    try:
        sub = network.create_subnet(session, net, body.get("name"), body["cidr"],
                                    body.get("gateway_ip", ""))
    except network.NetworkError as exc:
        return _neutron_error(400, "HTTPBadRequest", exc.message)
    session.commit()
    return {"subnet": render_subnet(sub)}


@router.post("/v2.0/ports", status_code=201)
async def create_port(request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = await _body(request, "port")
    if isinstance(body, JSONResponse):
        return body
    net = session.get(Network, str(body.get("network_id")))
    if net is None or not _visible(ctx, "network", net):
        return _not_found("network", body.get("network_id"))
    project = _project(body, ctx)
    if isinstance(project, JSONResponse):
        return project
    refused = _refused(ctx, "network:create_port", _policy_target(project, False))
    if refused is not None:
        return refused
    fixed = body.get("fixed_ips") or [{}]
    if not isinstance(fixed, list) or len(fixed) != 1 or not isinstance(fixed[0], dict):
        return _neutron_error(400, "HTTPBadRequest", "Exactly one fixed IP is supported.")
    sub = (session.get(Subnet, str(fixed[0]["subnet_id"])) if fixed[0].get("subnet_id")
           else (net.subnets[0] if net.subnets else None))
    if sub is None or sub.network_id != net.id:
        return _neutron_error(400, "HTTPBadRequest", "No valid subnet for the port.")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        return _neutron_error(400, "HTTPBadRequest", "Invalid input for name.")
    try:
        port = network.create_port(session, sub, ip_address=fixed[0].get("ip_address"),
                                   name=name, project_id=project)
    except (network.NetworkError, ValueError) as exc:
        return _neutron_error(409 if getattr(exc, "status", 400) == 409 else 400,
                              "IpAddressGenerationFailure", str(exc))
    session.commit()
    return {"port": render_port(port)}


@router.delete("/v2.0/{kind}/{obj_id}", status_code=204)
def delete_kind(kind: str, obj_id: str, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    if kind not in KINDS:
        return _neutron_error(404, "HTTPNotFound", "The resource could not be found.")
    model, single, _render = KINDS[kind]
    obj = session.get(model, obj_id)
    if obj is None or not _visible(ctx, single, obj):
        return _not_found(single, obj_id)
    refused = _refused(ctx, f"network:delete_{single}", _target(obj))
    if refused is not None:
        return refused
    if kind == "ports":
        if obj.device_owner == "Octavia":
            return _neutron_error(409, "PortInUse", f"Port {obj_id} is in use by a load "
                                  "balancer; delete the load balancer instead.")
        session.delete(obj)
        session.commit()
        return Response(status_code=204)
    in_use = (session.scalar(select(Port).where(Port.network_id == obj.id))
              if kind == "networks" else
              any(f.subnet_id == obj.id for p in session.scalars(
                  select(Port).where(Port.network_id == obj.network_id)) for f in p.fixed_ips))
    if in_use:
        return _neutron_error(409, f"{single.capitalize()}InUse",
                              f"Unable to complete operation on {single} {obj_id}. One or more "
                              "ports have an IP allocation from this " + single + ".")
    for sub in obj.subnets if kind == "networks" else []:
        session.delete(sub)
    session.delete(obj)
    session.commit()
    return Response(status_code=204)

"""Load balancer request bodies and representation."""

from __future__ import annotations

from octolb.api.schemas import types as t
from octolb.api.schemas.common import ids, live, owned
from octolb.db.models import l7_redirect_pools


class LoadBalancerPOST(t.Body):
    name: t.Name = None
    description: t.Name = None
    admin_state_up: t.Bool = True
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None
    vip_address: t.IP = None
    vip_port_id: t.UUID = None
    vip_subnet_id: t.UUID = None
    vip_network_id: t.UUID = None
    vip_qos_policy_id: t.UUID = None
    vip_sg_ids: list[t.UUID] | None = None
    additional_vips: list[t.AnyDict()] | None = None
    provider: t.String(64) = None
    flavor_id: t.UUID = None
    availability_zone: t.Name = None
    tags: t.Tags = None
    listeners: list[t.AnyDict()] | None = None
    pools: list[t.AnyDict()] | None = None


class LoadBalancerPUT(t.Body):
    name: t.Name = None
    description: t.Name = None
    admin_state_up: t.Bool = None
    vip_qos_policy_id: t.UUID = None
    vip_sg_ids: list[t.UUID] | None = None
    tags: t.Tags = None


def render(lb) -> dict:
    d = owned(lb)
    d.update({
        "description": lb.description or "",
        "vip_address": lb.vip_address,
        "vip_port_id": lb.vip_port_id,
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_network_id": lb.vip_network_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "vip_sg_ids": [],
        "vip_vnic_type": "normal",
        "additional_vips": [],
        "listeners": ids(live(lb.listeners)),
        "pools": ids(live(lb.pools)),
        "provider": lb.provider or "octavia",
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
    })
    if lb.last_error:
        # octolb extension, present only while the last change of this LB failed (the LB or
        # a child is in ERROR): why, in words an admin can act on
        d["status_reason"] = lb.last_error
    return d


def render_status_tree(lb) -> dict:
    def base(o, **extra):
        return {"id": o.id, "name": o.name or "", "provisioning_status": o.provisioning_status,
                "operating_status": o.operating_status, **extra}

    listeners = []
    for lis in live(lb.listeners):
        pools = []
        used = [lis.default_pool, *l7_redirect_pools(lis)]
        for pool in dict.fromkeys(p for p in used if p is not None and p.provisioning_status
                                  != "DELETED"):
            hm = pool.health_monitor
            pools.append(base(
                pool,
                health_monitor=(base(hm, type=hm.type) if hm is not None else None),
                members=[base(m, address=m.ip_address, protocol_port=m.protocol_port)
                         for m in live(pool.members)],
            ))
        listeners.append(base(lis, pools=pools))
    return {"statuses": {"loadbalancer": base(lb, listeners=listeners)}}

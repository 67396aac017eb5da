"""Member request bodies and representation."""

from __future__ import annotations

from octolb.api.schemas import types as t
from octolb.api.schemas.common import owned


class MemberPOST(t.Body):
    name: t.Name = None
    admin_state_up: t.Bool = True
    address: t.IP
    protocol_port: t.Port
    weight: t.Int(0, 256) = None
    backup: t.Bool = None
    subnet_id: t.UUID = None
    monitor_address: t.IP = None
    monitor_port: t.Port = None
    request_sriov: t.Bool = None
    tags: t.Tags = None
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class MemberPUT(t.Body):
    name: t.Name = None
    admin_state_up: t.Bool = None
    weight: t.Int(0, 256) = None
    backup: t.Bool = None
    monitor_address: t.IP = None
    monitor_port: t.Port = None
    tags: t.Tags = None


class MembersBatch(t.Body):
    members: list[t.AnyDict()]


def render(m) -> dict:
    d = owned(m)
    d.update({
        "address": m.ip_address,
        "protocol_port": m.protocol_port,
        "weight": m.weight,
        "backup": bool(m.backup),
        "subnet_id": m.subnet_id,
        "monitor_address": m.monitor_address,
        "monitor_port": m.monitor_port,
        "vnic_type": m.vnic_type or "normal",
    })
    return d

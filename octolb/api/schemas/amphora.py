"""Amphora representation (admin API)."""

from __future__ import annotations

from octolb.api.schemas.common import ts


def render(a) -> dict:
    return {
        "id": a.id, "loadbalancer_id": a.load_balancer_id, "compute_id": a.compute_id,
        "lb_network_ip": a.lb_network_ip, "vrrp_ip": a.vrrp_ip, "ha_ip": a.ha_ip,
        "vrrp_port_id": None, "ha_port_id": None, "cert_expiration": ts(a.cert_expiration),
        "cert_busy": bool(a.cert_busy), "role": a.role, "status": a.status,
        "vrrp_interface": None, "vrrp_id": None, "vrrp_priority": None, "cached_zone": None,
        "created_at": ts(a.created_at), "updated_at": ts(a.updated_at), "image_id": None,
        "compute_flavor": None,
    }

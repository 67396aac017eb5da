"""Listener request bodies and representation."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from octolb import constants as c
from octolb.api.schemas import types as t
from octolb.api.schemas.common import ids, live, owned

Timeout = t.Int(0, c.MAX_TIMEOUT_MS)


def _cidr(v: Any) -> str:
    """One allowed_cidrs entry: an IPv4 or IPv6 network (host bits allowed, normalised
    later); no IPv6 zone."""
    if isinstance(v, str) and "%" not in v:
        try:
            ipaddress.ip_network(v, strict=False)
            return v
        except ValueError:
            pass
    raise ValueError("Value should be IPv4 or IPv6 CIDR format")


def _cidr_list(v: Any) -> list | None:
    if v is not None and not isinstance(v, list):
        raise ValueError(f"Value not a valid list: {v}")
    return v


Cidrs = Annotated[list[Annotated[str, BeforeValidator(_cidr)]] | None,
                  BeforeValidator(_cidr_list),
                  WithJsonSchema({"type": "array", "items": {
                      "type": "string", "description": "an IPv4 or IPv6 CIDR"}})]
# Header name -> value ("true", or the value to send); which names a protocol allows is
# checked by the route (Octavia §9.2.3).
INSERT_HEADERS = {"type": "object", "propertyNames": {
    "enum": list(c.INSERT_HEADERS_HTTP + c.INSERT_HEADERS_SSL)},
    "additionalProperties": t.string_schema(255)}


class _ListenerCommon(t.Body):
    name: t.Name = None
    description: t.Name = None
    admin_state_up: t.Bool = True
    connection_limit: t.Int(-1, 2**31 - 1) = None  # HAProxy's maxconn is a C int
    default_pool_id: t.UUID = None
    default_tls_container_ref: t.Ref = None
    sni_container_refs: list[t.Ref] | None = None
    client_ca_tls_container_ref: t.Ref = None
    client_authentication: t.Enum("NONE", "OPTIONAL", "MANDATORY") = None
    client_crl_container_ref: t.Ref = None
    insert_headers: t.AnyDict(INSERT_HEADERS) = None
    timeout_client_data: Timeout = None
    timeout_member_connect: Timeout = None
    timeout_member_data: Timeout = None
    timeout_tcp_inspect: Timeout = None
    allowed_cidrs: Cidrs = None
    tls_ciphers: t.String(2048) = None
    tls_versions: list[t.String(32)] | None = None
    alpn_protocols: list[t.String(32)] | None = None
    hsts_max_age: t.Int(0, 2**31 - 1) = None
    hsts_include_subdomains: t.Bool = None
    hsts_preload: t.Bool = None
    tags: t.Tags = None


class ListenerPOST(_ListenerCommon):
    loadbalancer_id: t.UUID
    protocol: t.Enum(*c.LISTENER_PROTOCOLS)
    protocol_port: t.Port
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class ListenerPUT(_ListenerCommon):
    admin_state_up: t.Bool = None


def render(lis) -> dict:
    d = owned(lis)
    d.update({
        "description": lis.description or "",
        "protocol": lis.protocol,
        "protocol_port": lis.protocol_port,
        "connection_limit": lis.connection_limit,
        "default_pool_id": lis.default_pool_id,
        "default_tls_container_ref": lis.default_tls_container_ref,
        "sni_container_refs": list(lis.sni_container_refs or []),
        "client_ca_tls_container_ref": lis.client_ca_tls_container_ref,
        "client_authentication": lis.client_authentication or "NONE",
        "client_crl_container_ref": lis.client_crl_container_ref,
        "insert_headers": dict(lis.insert_headers or {}),
        "l7policies": ids(sorted(live(getattr(lis, "l7policies", None) or []),
                                 key=lambda p: p.position)),
        "loadbalancers": [{"id": lis.load_balancer_id}],
        "timeout_client_data": lis.timeout_client_data,
        "timeout_member_connect": lis.timeout_member_connect,
        "timeout_member_data": lis.timeout_member_data,
        "timeout_tcp_inspect": lis.timeout_tcp_inspect,
        "allowed_cidrs": list(lis.allowed_cidrs) if lis.allowed_cidrs else None,
        "tls_ciphers": lis.tls_ciphers,
        "tls_versions": lis.tls_versions,
        "alpn_protocols": lis.alpn_protocols,
        "hsts_max_age": lis.hsts_max_age,
        "hsts_include_subdomains": bool(lis.hsts_include_subdomains),
        "hsts_preload": bool(lis.hsts_preload),
    })
    return d


__all__ = ["ListenerPOST", "ListenerPUT", "render", "ids"]

"""The OpenAPI 3.1 document of the load-balancer v2 API as octolb serves it (`/openapi.json`).

The routes parse request bodies themselves (for WSME-style error texts), so FastAPI's
generated document knows nothing of them. This one is built from what the routes use:

* request bodies are the pydantic models of `octolb.api.schemas` (`model_json_schema()`: the
  JSON Schema each field type carries beside its validator, `schemas/types.py`), wrapped in
  their envelope key;
* list filters are the filterable columns of each list route (`COLUMNS`);
* response objects are written out below from the reference (octavia-v2-api §4, §9,
  appendix A): exactly Octavia's keys, all required (a key Octavia omits is the one
  exception, listed where it occurs), `additionalProperties: false`, so a missing or extra key
  or a wrong type fails a conformance check.

Only the `/v2` prefix is listed; `/v2.0` is the same tree, a `.json` suffix on the last path
segment is accepted, and `fields=` (field selection) trims the response objects to the
selected keys, which the response schemas below do not describe.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel

from octolb import constants as c
from octolb.api.routes import (
    amphorae,
    healthmonitors,
    l7policies,
    listeners,
    loadbalancers,
    members,
    pools,
    quotas,
)
from octolb.api.schemas import (
    availability_zone,
    availability_zone_profile,
    flavor,
    flavor_profile,
    graph,
    health_monitor,
    l7policy,
    l7rule,
    listener,
    load_balancer,
    member,
    pool,
)
from octolb.api.schemas import quota as quota_schema
from octolb.api.schemas import types as t

# ---------------------------------------------------------------------------------------------
# JSON Schema building blocks of the responses

STR = {"type": "string"}
STR_OR_NULL = {"type": ["string", "null"]}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
UUID = t.UUID_SCHEMA


def nullable(schema: dict) -> dict:
    """`schema` or null."""
    if "$ref" in schema or "anyOf" in schema or "enum" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


def enum(values) -> dict:
    return {"type": "string", "enum": list(values)}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def obj(properties: dict, optional: tuple[str, ...] = ()) -> dict:
    """A closed object: every key but the `optional` ones is always present."""
    return {"type": "object", "properties": properties,
            "required": sorted(k for k in properties if k not in optional),
            "additionalProperties": False}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# naive UTC isoformat at second precision, no zone suffix (§4 rule 6)
TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"}
PORT = t.int_schema(1, 65535)
IP = t.IP_SCHEMA
IDS = array(ref("IdRef"))
PROVISIONING = enum((c.ACTIVE, c.PENDING_CREATE, c.PENDING_UPDATE, c.PENDING_DELETE, c.ERROR))
OPERATING = enum((c.ONLINE, c.OFFLINE, c.DEGRADED, c.ERROR, c.DRAINING, c.NO_MONITOR))
LIMIT = nullable(t.int_schema(-1, 2000000000))
VNIC = enum(("normal", "direct"))

# the keys of every project-owned object (common.owned)
OWNED = {
    "id": UUID, "name": STR, "project_id": STR, "tenant_id": STR,
    "provisioning_status": PROVISIONING, "operating_status": OPERATING,
    "admin_state_up": BOOL, "created_at": TIMESTAMP, "updated_at": nullable(TIMESTAMP),
    "tags": array(STR),
}


def owned(**extra: dict) -> dict:
    return {**OWNED, **extra}


LOADBALANCER = owned(
    description=STR, vip_address=IP, vip_port_id=nullable(UUID),
    vip_subnet_id=nullable(UUID), vip_network_id=nullable(UUID),
    vip_qos_policy_id=nullable(UUID), vip_sg_ids=array(UUID), vip_vnic_type=VNIC,
    additional_vips=array(obj({"subnet_id": UUID, "ip_address": nullable(IP),
                               "port_id": nullable(UUID)})),
    listeners=IDS, pools=IDS, provider=STR, flavor_id=nullable(UUID),
    availability_zone=STR_OR_NULL,
    # octolb extension: present only while the last change of the load balancer failed
    status_reason=STR)
LB_OPTIONAL = ("status_reason",)

LISTENER = owned(
    description=STR, protocol=enum(c.LISTENER_PROTOCOLS), protocol_port=PORT,
    connection_limit=t.int_schema(-1), default_pool_id=nullable(UUID),
    default_tls_container_ref=STR_OR_NULL, sni_container_refs=array(STR),
    client_ca_tls_container_ref=STR_OR_NULL,
    client_authentication=enum(("NONE", "OPTIONAL", "MANDATORY")),
    client_crl_container_ref=STR_OR_NULL,
    insert_headers={"type": "object", "additionalProperties": STR},
    l7policies=IDS, loadbalancers=IDS,
    timeout_client_data=nullable(t.int_schema(0, c.MAX_TIMEOUT_MS)),
    timeout_member_connect=nullable(t.int_schema(0, c.MAX_TIMEOUT_MS)),
    timeout_member_data=nullable(t.int_schema(0, c.MAX_TIMEOUT_MS)),
    timeout_tcp_inspect=nullable(t.int_schema(0, c.MAX_TIMEOUT_MS)),
    allowed_cidrs=nullable(array(STR)), tls_ciphers=STR_OR_NULL,
    tls_versions=nullable(array(STR)), alpn_protocols=nullable(array(STR)),
    hsts_max_age=nullable(t.int_schema(0)), hsts_include_subdomains=BOOL, hsts_preload=BOOL)

SESSION_PERSISTENCE = obj({
    "type": enum(c.SESSION_PERSISTENCE_TYPES), "cookie_name": STR_OR_NULL,
    "persistence_timeout": nullable(INT), "persistence_granularity": STR_OR_NULL})

POOL = owned(
    description=STR, protocol=enum(c.POOL_PROTOCOLS), lb_algorithm=enum(c.LB_ALGORITHMS),
    session_persistence=nullable(ref("SessionPersistence")), loadbalancers=IDS,
    listeners=IDS, members=IDS, healthmonitor_id=UUID, tls_enabled=BOOL,
    tls_container_ref=STR_OR_NULL, ca_tls_container_ref=STR_OR_NULL,
    crl_container_ref=STR_OR_NULL, tls_ciphers=STR_OR_NULL,
    tls_versions=nullable(array(STR)), alpn_protocols=nullable(array(STR)))
# Octavia leaves healthmonitor_id out when the pool has no monitor
POOL_OPTIONAL = ("healthmonitor_id",)

MEMBER = owned(
    address=IP, protocol_port=PORT, weight=t.int_schema(0, 256), backup=BOOL,
    subnet_id=nullable(UUID), monitor_address=nullable(IP), monitor_port=nullable(PORT),
    vnic_type=VNIC)

HEALTHMONITOR = owned(
    type=enum(c.HM_TYPES), delay=t.int_schema(0), timeout=t.int_schema(0),
    max_retries=t.int_schema(1, 10), max_retries_down=t.int_schema(1, 10),
    http_method=nullable(enum(c.HTTP_METHODS)), url_path=STR_OR_NULL,
    expected_codes=STR_OR_NULL,
    http_version={"type": ["number", "null"], "enum": [1.0, 1.1, None]},
    domain_name=STR_OR_NULL, pools=IDS)

L7POLICY = owned(
    description=STR, action=enum(c.L7POLICY_ACTIONS), listener_id=UUID,
    redirect_pool_id=nullable(UUID), redirect_url=STR_OR_NULL, redirect_prefix=STR_OR_NULL,
    redirect_http_code={"type": ["integer", "null"],
                        "enum": [*c.REDIRECT_HTTP_CODES, None]},
    position=t.int_schema(1, c.MAX_POLICY_POSITION), rules=IDS)

L7RULE = {k: v for k, v in owned(
    type=enum(c.L7RULE_TYPES), compare_type=enum(c.L7RULE_COMPARE_TYPES),
    key=STR_OR_NULL, value=STR, invert=BOOL).items() if k != "name"}

QUOTA = {"project_id": STR, "tenant_id": STR,
         **{k: LIMIT for k in quota_schema.KEYS}}

AMPHORA = {
    "id": UUID, "loadbalancer_id": nullable(UUID), "compute_id": STR_OR_NULL,
    "lb_network_ip": nullable(IP), "vrrp_ip": nullable(IP), "ha_ip": nullable(IP),
    "vrrp_port_id": nullable(UUID), "ha_port_id": nullable(UUID),
    "cert_expiration": nullable(TIMESTAMP), "cert_busy": BOOL,
    "role": nullable(enum((c.ROLE_MASTER, c.ROLE_BACKUP, c.ROLE_STANDALONE))),
    "status": enum((c.BOOTING, c.ALLOCATED, c.READY, c.PENDING_CREATE, c.PENDING_DELETE,
                    c.ERROR, c.FAILOVER_STOPPED)),
    "vrrp_interface": STR_OR_NULL, "vrrp_id": nullable(INT), "vrrp_priority": nullable(INT),
    "cached_zone": STR_OR_NULL, "created_at": TIMESTAMP, "updated_at": nullable(TIMESTAMP),
    "image_id": nullable(UUID), "compute_flavor": STR_OR_NULL,
}

COUNTER = t.int_schema(0)
STATS = {k: COUNTER for k in
         ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")}
AMPHORA_STATS = {"id": UUID, "loadbalancer_id": UUID, "listener_id": UUID, **STATS}

FLAVOR = {"id": UUID, "name": STR, "description": STR, "enabled": BOOL,
          "flavor_profile_id": UUID}
FLAVOR_PROFILE = {"id": UUID, "name": STR, "provider_name": STR, "flavor_data": STR}
AVAILABILITY_ZONE = {"name": STR, "description": STR, "enabled": BOOL,
                     "availability_zone_profile_id": UUID}
AVAILABILITY_ZONE_PROFILE = {"id": UUID, "name": STR, "provider_name": STR,
                             "availability_zone_data": STR}
NAMED = {"name": STR, "description": STR}  # providers, capabilities


def _status(**extra: dict) -> dict:
    """A node of the status tree (§9.1.8)."""
    return obj({"id": UUID, "name": STR, "provisioning_status": PROVISIONING,
                "operating_status": OPERATING, **extra})


STATUS_TREE = obj({"loadbalancer": _status(listeners=array(_status(pools=array(_status(
    health_monitor=nullable(_status(type=enum(c.HM_TYPES))),
    members=array(_status(address=IP, protocol_port=PORT))))))) })

# the fully populated create's answer (§9.1.3): nested objects in full, minus their parents
FULL_POOL = {**{k: v for k, v in POOL.items() if k not in ("loadbalancers", "healthmonitor_id")},
             "members": array(ref("Member")),
             "healthmonitor": nullable(ref("NestedHealthMonitor"))}
FULL_POLICY = {**L7POLICY, "rules": array(ref("L7Rule"))}
FULL_LISTENER = {**{k: v for k, v in LISTENER.items() if k != "loadbalancers"},
                 "l7policies": array(ref("FullL7Policy"))}
FULL_LOADBALANCER = {**LOADBALANCER,
                     "listeners": array({"anyOf": [ref("IdRef"), ref("FullListener")]}),
                     "pools": array({"anyOf": [ref("IdRef"), ref("FullPool")]})}

LINKS = array(obj({"href": STR, "rel": enum(("next", "previous"))}))

FAULT = obj({"faultcode": enum(("Client", "Server")), "faultstring": STR,
             "debuginfo": {"type": "null"}})

RESPONSE_SCHEMAS = {
    "IdRef": obj({"id": UUID}),
    "LoadBalancer": obj(LOADBALANCER, LB_OPTIONAL),
    "FullLoadBalancer": obj(FULL_LOADBALANCER, LB_OPTIONAL),
    "Listener": obj(LISTENER),
    "FullListener": obj(FULL_LISTENER),
    "SessionPersistence": SESSION_PERSISTENCE,
    "Pool": obj(POOL, POOL_OPTIONAL),
    "FullPool": obj(FULL_POOL),
    "Member": obj(MEMBER),
    "HealthMonitor": obj(HEALTHMONITOR),
    "NestedHealthMonitor": obj({k: v for k, v in HEALTHMONITOR.items() if k != "pools"}),
    "L7Policy": obj(L7POLICY),
    "FullL7Policy": obj(FULL_POLICY),
    "L7Rule": obj(L7RULE),
    "Quota": obj(QUOTA),
    "Amphora": obj(AMPHORA),
    "AmphoraStats": obj(AMPHORA_STATS),
    "Stats": obj(STATS),
    "StatusTree": STATUS_TREE,
    "Flavor": obj(FLAVOR),
    "FlavorProfile": obj(FLAVOR_PROFILE),
    "AvailabilityZone": obj(AVAILABILITY_ZONE),
    "AvailabilityZoneProfile": obj(AVAILABILITY_ZONE_PROFILE),
    "Named": obj(NAMED),
    "Links": LINKS,
    "Fault": FAULT,
    "NotAcceptable": obj({"errors": array(obj({
        "status": {"const": 406}, "title": STR, "detail": STR, "request_id": STR}))}),
    # keystonemiddleware answers by itself (keystone mode): 401, or 503 when Keystone is away
    "KeystoneError": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "title", "message"],
        "properties": {"code": INT, "title": STR, "message": STR}}}},
    "Versions": obj({"versions": array(obj({
        "id": {"type": "string", "pattern": r"^v2\.\d+$"},
        "status": enum(("SUPPORTED", "CURRENT")),
        "updated": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
        "links": array(obj({"href": STR, "rel": {"const": "self"}}))}))}),
}

# ---------------------------------------------------------------------------------------------
# Request bodies: the routes' own models


def _clean(schema: Any) -> Any:
    """pydantic's JSON Schema as a request schema: no titles, no null defaults, and an
    optional field is its type (an explicit null is a value with its own meaning per field,
    see the reference §3 rule 8, not something to generate)."""
    if isinstance(schema, list):
        return [_clean(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "properties":
            out[key] = {name: _clean(v) for name, v in value.items()}
            continue
        out[key] = _clean(value)
    any_of = out.get("anyOf")
    if any_of and {"type": "null"} in any_of:
        rest = [s for s in any_of if s != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1:
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
    return out


def body(model: type[BaseModel], *, drop: tuple[str, ...] = (), **replace: dict) -> dict:
    schema = _clean(model.model_json_schema())
    for key in drop:
        schema["properties"].pop(key, None)
    schema["properties"].update(replace)
    if "required" in schema:
        schema["required"] = [k for k in schema["required"] if k not in drop]
    return schema


def wrapped(key: str, schema: dict) -> dict:
    return obj({key: schema})


NO_PROJECT = graph.NO_PROJECT


@functools.cache
def request_schemas() -> dict[str, dict]:
    return {
        # the objects nested in a fully populated load balancer create (§9.1.3)
        "GraphMember": body(member.MemberPOST, drop=NO_PROJECT),
        "GraphL7Rule": body(l7rule.L7RulePOST, drop=NO_PROJECT),
        "GraphHealthMonitor": body(graph.GraphHealthMonitor),
        "GraphPool": body(graph.GraphPool, healthmonitor=ref("GraphHealthMonitor"),
                          members=array(ref("GraphMember"))),
        "GraphL7Policy": body(graph.GraphL7Policy, redirect_pool=ref("GraphPool"),
                              rules=array(ref("GraphL7Rule"))),
        "GraphListener": body(graph.GraphListener, default_pool=ref("GraphPool"),
                              l7policies=array(ref("GraphL7Policy"))),
        "LoadBalancerCreate": body(
            load_balancer.LoadBalancerPOST,
            listeners=array(ref("GraphListener")), pools=array(ref("GraphPool")),
            additional_vips=array(obj({"subnet_id": UUID, "ip_address": IP,
                                       "port_id": UUID}, ("ip_address", "port_id")))),
        "LoadBalancerUpdate": body(load_balancer.LoadBalancerPUT),
        "ListenerCreate": body(listener.ListenerPOST),
        "ListenerUpdate": body(listener.ListenerPUT),
        "PoolCreate": body(pool.PoolPOST),
        "PoolUpdate": body(pool.PoolPUT),
        "MemberCreate": body(member.MemberPOST),
        "MemberUpdate": body(member.MemberPUT),
        "MembersBatch": obj({"members": array(body(member.MemberPOST))}),
        "HealthMonitorCreate": body(health_monitor.HealthMonitorPOST),
        "HealthMonitorUpdate": body(health_monitor.HealthMonitorPUT),
        "L7PolicyCreate": body(l7policy.L7PolicyPOST, rules=array(ref("GraphL7Rule"))),
        "L7PolicyUpdate": body(l7policy.L7PolicyPUT),
        "L7RuleCreate": body(l7rule.L7RulePOST),
        "L7RuleUpdate": body(l7rule.L7RulePUT),
        "QuotaUpdate": body(quota_schema.QuotaPUT),
        "FlavorCreate": body(flavor.FlavorPOST),
        "FlavorUpdate": body(flavor.FlavorPUT),
        "FlavorProfileCreate": body(flavor_profile.FlavorProfilePOST),
        "FlavorProfileUpdate": body(flavor_profile.FlavorProfilePUT),
        "AvailabilityZoneCreate": body(availability_zone.AvailabilityZonePOST),
        "AvailabilityZoneUpdate": body(availability_zone.AvailabilityZonePUT),
        "AvailabilityZoneProfileCreate": body(
            availability_zone_profile.AvailabilityZoneProfilePOST),
        "AvailabilityZoneProfileUpdate": body(
            availability_zone_profile.AvailabilityZoneProfilePUT),
    }


# ---------------------------------------------------------------------------------------------
# Operations

ERRORS = {
    "400": "Bad request: invalid body, filter, sort key or pagination argument, or a "
           "semantic validation failure (faultstring says which).",
    "401": "Unauthenticated (keystone mode; the body is keystonemiddleware's).",
    "403": "Policy does not allow the request, or a quota is met.",
    "404": "The object (or a parent) does not exist.",
    "406": "The Accept header excludes application/json.",
    "409": "The load balancer (or the parent pool / L7 policy) is busy (PENDING_*), the "
           "object is immutable, or a duplicate.",
    "501": "The provider does not support a requested option (UDP, SCTP, PROMETHEUS, "
           "additional_vips, vip_sg_ids ...).",
    "503": "Keystone cannot be reached (keystone mode; keystonemiddleware's body).",
}
READ_ERRORS = ("400", "401", "403", "404", "406", "503")
WRITE_ERRORS = ("400", "401", "403", "404", "406", "409", "501", "503")
DELETE_ERRORS = ("400", "401", "403", "404", "406", "409", "503")


def _error_response(code: str) -> dict:
    if code == "406":
        schema = ref("NotAcceptable")
    elif code in ("401", "503"):
        schema = {"anyOf": [ref("Fault"), ref("KeystoneError")]}
    else:
        schema = ref("Fault")
    return {"description": ERRORS[code], "content": {"application/json": {"schema": schema}}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _filter_schema(column) -> dict:
    if isinstance(column, dict):
        return column
    try:
        py = column.type.python_type
    except (AttributeError, NotImplementedError):
        py = str
    if py is bool:
        return BOOL
    if py is int:
        return INT
    return STR


PAGING = [
    ("limit", INT, "Page size (default and maximum: [api_settings] pagination_max_limit; "
                   "0 or negative: no limit)."),
    ("marker", STR, "The id (zones: the name) of the last object of the previous page."),
    ("page_reverse", STR, "`True`: the page before the marker."),
    ("sort", STR, "`key[:asc|desc],...`"),
    ("sort_key", STR, "Comma-separated sort keys (with sort_dir)."),
    ("sort_dir", STR, "Comma-separated directions, `asc` or `desc`."),
]
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
# the filters of the profile and choice lists (octavia-v2-api §6.2)
FLAVOR_FILTERS = {"id": STR, "name": STR, "description": STR, "enabled": BOOL,
                  "flavor_profile_id": STR}
FLAVOR_PROFILE_FILTERS = {"id": STR, "name": STR, "provider_name": STR, "flavor_data": STR}
ZONE_FILTERS = {"name": STR, "description": STR, "enabled": BOOL,
                "availability_zone_profile_id": STR}
ZONE_PROFILE_FILTERS = {"id": STR, "name": STR, "provider_name": STR,
                        "availability_zone_data": STR}


def _query(name: str, schema: dict, description: str = "") -> dict:
    p = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        p["description"] = description
    return p


def list_params(columns: dict, *, tags: bool = True) -> list[dict]:
    out = [_query(n, s, d) for n, s, d in PAGING]
    if tags:
        out += [_query(n, STR, "Comma-separated tags (§6.3).") for n in TAG_FILTERS]
    out += [_query(name, _filter_schema(col), "Exact-match filter.")
            for name, col in columns.items()]
    return out


def path_param(name: str, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": STR,
            "description": description or "The object's id (any other string: 404)."}


# An example request body of each operation that takes one (the ids are placeholders).
_LB, _LISTENER, _POOL, _PROFILE = ("f3f8c5be-5b9c-4bc0-9a0c-0d3a7c0e2a11",
                                   "6c3c2a9e-3f0e-4b8e-9f7a-5c1d2e3f4a22",
                                   "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c33",
                                   "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e44")
EXAMPLES = {
    "create_loadbalancer": {"loadbalancer": {
        "name": "web", "vip_subnet_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a55"}},
    "update_loadbalancer": {"loadbalancer": {"description": "the web tier"}},
    "create_listener": {"listener": {"loadbalancer_id": _LB, "protocol": "HTTP",
                                     "protocol_port": 8080, "name": "http"}},
    "update_listener": {"listener": {"connection_limit": 1000}},
    "create_pool": {"pool": {"loadbalancer_id": _LB, "protocol": "HTTP",
                             "lb_algorithm": "ROUND_ROBIN", "name": "web"}},
    "update_pool": {"pool": {"lb_algorithm": "LEAST_CONNECTIONS"}},
    "create_member": {"member": {"address": "192.0.2.21", "protocol_port": 8080}},
    "update_member": {"member": {"weight": 5}},
    "batch_update_members": {"members": [{"address": "192.0.2.22", "protocol_port": 8080}]},
    "create_healthmonitor": {"healthmonitor": {"pool_id": _POOL, "type": "HTTP", "delay": 5,
                                               "timeout": 3, "max_retries": 3,
                                               "url_path": "/healthz"}},
    "update_healthmonitor": {"healthmonitor": {"delay": 10}},
    "create_l7policy": {"l7policy": {"listener_id": _LISTENER, "action": "REJECT"}},
    "update_l7policy": {"l7policy": {"name": "deny"}},
    "create_rule": {"rule": {"type": "PATH", "compare_type": "STARTS_WITH",
                             "value": "/admin"}},
    "update_rule": {"rule": {"value": "/private"}},
    "update_quota": {"quota": {"loadbalancer": 10, "listener": -1}},
    "create_flavor": {"flavor": {"name": "single", "flavor_profile_id": _PROFILE}},
    "update_flavor": {"flavor": {"description": "one amphora"}},
    "create_flavorprofile": {"flavorprofile": {
        "name": "single", "provider_name": "amphora",
        "flavor_data": '{"loadbalancer_topology": "SINGLE"}'}},
    "update_flavorprofile": {"flavorprofile": {"name": "single-amphora"}},
    "create_availability_zone": {"availability_zone": {
        "name": "zone-a", "availability_zone_profile_id": _PROFILE}},
    "update_availability_zone": {"availability_zone": {"enabled": False}},
    "create_availability_zone_profile": {"availability_zone_profile": {
        "name": "zone-a", "provider_name": "amphora",
        "availability_zone_data": '{"management_cidr": "127.3.0.0/24"}'}},
    "update_availability_zone_profile": {"availability_zone_profile": {"name": "zone-a2"}},
}


def op(op_id: str, summary: str, ok: str, ok_response: dict | None, errors: tuple[str, ...],
       *, params: list[dict] | None = None, request: dict | None = None) -> dict:
    responses = {ok: ok_response or {"description": summary}}
    responses.update({code: {"$ref": f"#/components/responses/Error{code}"} for code in errors})
    out: dict = {"operationId": op_id, "summary": summary, "responses": responses}
    if params:
        out["parameters"] = params
    if request is not None:
        media: dict = {"schema": request}
        if op_id in EXAMPLES:
            media["example"] = EXAMPLES[op_id]
        out["requestBody"] = {"required": True, "content": {"application/json": media}}
    return out


def _resource(paths: dict, *, base: str, id_name: str, singular: str, plural: str,
              schema: str, create: str, update: str, columns: dict, links: str | None = None,
              tags: bool = True, path_params: tuple[dict, ...] = (),
              create_response: dict | None = None, title: str = "") -> None:
    """The five operations of a collection and its items."""
    title = title or singular
    one = _json(f"The {title}.", obj({singular: ref(schema)}))
    pp = list(path_params)
    paths.setdefault(base, {})
    paths[base]["get"] = op(
        f"list_{plural}", f"List {title} objects.", "200",
        _json("A page.", obj({plural: array(ref(schema)),
                              links or f"{plural}_links": ref("Links")})),
        READ_ERRORS, params=pp + list_params(columns, tags=tags))
    paths[base]["post"] = op(
        f"create_{singular}", f"Create a {title}.", "201",
        create_response or _json(f"The new {title}.", obj({singular: ref(schema)})),
        WRITE_ERRORS, params=pp or None, request=wrapped(singular, ref(create)))
    item = f"{base}/{{{id_name}}}"
    ipp = pp + [path_param(id_name)]
    paths[item] = {
        "get": op(f"show_{singular}", f"Show a {title}.", "200", one, READ_ERRORS,
                  params=ipp),
        "put": op(f"update_{singular}", f"Update a {title}.", "200", one, WRITE_ERRORS,
                  params=ipp, request=wrapped(singular, ref(update))),
        "delete": op(f"delete_{singular}", f"Delete a {title}.", "204", None, DELETE_ERRORS,
                     params=ipp),
    }


def _paths() -> dict:
    paths: dict = {}
    lbaas = "/v2/lbaas"
    _resource(paths, base=f"{lbaas}/loadbalancers", id_name="lb_id", singular="loadbalancer",
              plural="loadbalancers", schema="LoadBalancer", create="LoadBalancerCreate",
              update="LoadBalancerUpdate", columns=loadbalancers.COLUMNS,
              title="load balancer",
              create_response=_json("The new load balancer; after a fully populated create, "
                                    "with its listeners and pools in full.",
                                    obj({"loadbalancer": ref("FullLoadBalancer")})))
    lb = f"{lbaas}/loadbalancers/{{lb_id}}"
    lb_param = [path_param("lb_id")]
    paths[lb]["delete"]["parameters"].append(
        _query("cascade", BOOL, "Delete the children too (else 400 when there are any)."))
    paths[f"{lb}/stats"] = {"get": op(
        "show_loadbalancer_stats", "Traffic counters of a load balancer.", "200",
        _json("Counters.", obj({"stats": ref("Stats")})), READ_ERRORS, params=lb_param)}
    for suffix in ("status", "statuses"):
        paths[f"{lb}/{suffix}"] = {"get": op(
            f"show_loadbalancer_{suffix}", "The status tree of a load balancer.", "200",
            _json("The tree.", obj({"statuses": ref("StatusTree")})), READ_ERRORS,
            params=lb_param)}
    paths[f"{lb}/failover"] = {"put": op(
        "failover_loadbalancer", "Replace the amphorae of a load balancer (admin).", "202",
        None, DELETE_ERRORS, params=lb_param)}

    _resource(paths, base=f"{lbaas}/listeners", id_name="listener_id", singular="listener",
              plural="listeners", schema="Listener", create="ListenerCreate",
              update="ListenerUpdate", columns=listeners.COLUMNS)
    paths[f"{lbaas}/listeners/{{listener_id}}/stats"] = {"get": op(
        "show_listener_stats", "Traffic counters of a listener.", "200",
        _json("Counters.", obj({"stats": ref("Stats")})), READ_ERRORS,
        params=[path_param("listener_id")])}

    _resource(paths, base=f"{lbaas}/pools", id_name="pool_id", singular="pool",
              plural="pools", schema="Pool", create="PoolCreate", update="PoolUpdate",
              columns=pools.COLUMNS)
    pool_param = path_param("pool_id", "The pool's id (any other string: 404).")
    _resource(paths, base=f"{lbaas}/pools/{{pool_id}}/members", id_name="member_id",
              singular="member", plural="members", schema="Member", create="MemberCreate",
              update="MemberUpdate", columns=members.COLUMNS, path_params=(pool_param,))
    paths[f"{lbaas}/pools/{{pool_id}}/members"]["put"] = op(
        "batch_update_members", "Replace the members of a pool (batch update).", "202", None,
        WRITE_ERRORS, params=[pool_param, _query(
            "additive_only", BOOL, "Keep the members the body does not list.")],
        request=ref("MembersBatch"))

    _resource(paths, base=f"{lbaas}/healthmonitors", id_name="hm_id",
              singular="healthmonitor", plural="healthmonitors", schema="HealthMonitor",
              create="HealthMonitorCreate", update="HealthMonitorUpdate",
              columns=healthmonitors.COLUMNS, title="health monitor")
    _resource(paths, base=f"{lbaas}/l7policies", id_name="policy_id", singular="l7policy",
              plural="l7policies", schema="L7Policy", create="L7PolicyCreate",
              update="L7PolicyUpdate", columns=l7policies.POLICY_COLUMNS, title="L7 policy")
    _resource(paths, base=f"{lbaas}/l7policies/{{policy_id}}/rules", id_name="rule_id",
              singular="rule", plural="rules", schema="L7Rule", create="L7RuleCreate",
              update="L7RuleUpdate", columns=l7policies.RULE_COLUMNS, title="L7 rule",
              path_params=(path_param("policy_id", "The L7 policy's id."),))

    quota_one = _json("The quota.", obj({"quota": ref("Quota")}))
    project = path_param("project_id", "A project id (any string of at most 255 "
                                       "characters).")
    paths[f"{lbaas}/quotas"] = {"get": op(
        "list_quotas", "List the stored quota records.", "200",
        _json("A page.", obj({"quotas": array(ref("Quota")), "quotas_links": ref("Links")})),
        READ_ERRORS, params=list_params(quotas.COLUMNS, tags=False))}
    paths[f"{lbaas}/quotas/defaults"] = {"get": op(
        "show_quota_defaults", "The configured default quotas.", "200", quota_one,
        READ_ERRORS)}
    paths[f"{lbaas}/quotas/{{project_id}}"] = {
        "get": op("show_quota", "A project's effective quotas.", "200", quota_one,
                  READ_ERRORS, params=[project]),
        "put": op("update_quota", "Set a project's quotas (-1: unlimited, null: default).",
                  "202", quota_one, WRITE_ERRORS, params=[project],
                  request=wrapped("quota", ref("QuotaUpdate"))),
        "delete": op("reset_quota", "Reset a project's quotas to the defaults.", "202", None,
                     DELETE_ERRORS, params=[project]),
    }
    paths[f"{lbaas}/quotas/{{project_id}}/default"] = {"get": op(
        "show_project_quota_defaults", "The default quotas, for a project.", "200", quota_one,
        READ_ERRORS, params=[project])}

    provider = path_param("provider", "A provider name.")
    paths[f"{lbaas}/providers"] = {"get": op(
        "list_providers", "The enabled provider drivers.", "200",
        _json("Providers.", obj({"providers": array(ref("Named"))})), READ_ERRORS)}
    for kind in ("flavor", "availability_zone"):
        key = f"{kind}_capabilities"
        paths[f"{lbaas}/providers/{{provider}}/{key}"] = {"get": op(
            f"list_{key}", f"What a provider accepts in {kind.replace('_', ' ')} profiles.",
            "200", _json("Capabilities.", obj({key: array(ref("Named"))})), READ_ERRORS,
            params=[provider, _query("name", STR, "Exact-match filter."),
                    _query("description", STR, "Exact-match filter.")])}

    _resource(paths, base=f"{lbaas}/flavors", id_name="flavor_id", singular="flavor",
              plural="flavors", schema="Flavor", create="FlavorCreate",
              update="FlavorUpdate", columns=FLAVOR_FILTERS, tags=False)
    _resource(paths, base=f"{lbaas}/flavorprofiles", id_name="fp_id",
              singular="flavorprofile", plural="flavorprofiles", schema="FlavorProfile",
              create="FlavorProfileCreate", update="FlavorProfileUpdate",
              columns=FLAVOR_PROFILE_FILTERS, links="flavorprofile_links", tags=False,
              title="flavor profile")
    _resource(paths, base=f"{lbaas}/availabilityzones", id_name="name",
              singular="availability_zone", plural="availability_zones",
              schema="AvailabilityZone", create="AvailabilityZoneCreate",
              update="AvailabilityZoneUpdate", columns=ZONE_FILTERS, tags=False,
              title="availability zone")
    paths[f"{lbaas}/availabilityzones/{{name}}"]["get"]["parameters"][0]["description"] = \
        "The zone's name."
    _resource(paths, base=f"{lbaas}/availabilityzoneprofiles", id_name="azp_id",
              singular="availability_zone_profile", plural="availability_zone_profiles",
              schema="AvailabilityZoneProfile", create="AvailabilityZoneProfileCreate",
              update="AvailabilityZoneProfileUpdate",
              columns=ZONE_PROFILE_FILTERS,
              links="availability_zone_profile_links", tags=False,
              title="availability zone profile")

    amp = "/v2/octavia/amphorae"
    amp_param = [path_param("amp_id")]
    paths[amp] = {"get": op(
        "list_amphorae", "List amphorae (admin).", "200",
        _json("A page.", obj({"amphorae": array(ref("Amphora")),
                              "amphorae_links": ref("Links")})),
        READ_ERRORS, params=list_params(amphorae.COLUMNS, tags=False))}
    paths[f"{amp}/{{amp_id}}"] = {
        "get": op("show_amphora", "Show an amphora (admin).", "200",
                  _json("The amphora.", obj({"amphora": ref("Amphora")})), READ_ERRORS,
                  params=amp_param),
        "delete": op("delete_amphora", "Delete an amphora in ERROR (admin).", "204", None,
                     DELETE_ERRORS, params=amp_param),
    }
    paths[f"{amp}/{{amp_id}}/stats"] = {"get": op(
        "show_amphora_stats", "Per-listener counters of an amphora (admin).", "200",
        _json("Counters.", obj({"amphora_stats": array(ref("AmphoraStats"))})), READ_ERRORS,
        params=amp_param)}
    for action, summary in (("config", "Push the agent configuration again (admin)."),
                            ("failover", "Replace an amphora (admin).")):
        paths[f"{amp}/{{amp_id}}/{action}"] = {"put": op(
            f"{action}_amphora", summary, "202", None, DELETE_ERRORS, params=amp_param)}

    paths["/"] = {"get": op("list_versions", "Version discovery (no authentication).",
                            "200", _json("The API versions.", ref("Versions")), ("406",))}
    paths["/v2"] = {"get": op("show_v2", "The v2 root.", "200",
                              _json("The string `v2`.", {"const": "v2"}),
                              ("401", "406", "503"))}
    return paths


DESCRIPTION = """\
The OpenStack Octavia v2 (load-balancer) API as octolb serves it. Every path is served under
`/v2` (listed here) and `/v2.0` (the same tree); a `.json` suffix on the last path segment
is accepted. Errors carry `{"faultcode", "faultstring", "debuginfo"}`. `fields=<key>`
(repeatable) on lists and shows trims each object to the selected keys (the response schemas
here describe untrimmed objects). Authentication: none by default (`auth_strategy = noauth`);
in keystone mode an `X-Auth-Token` header on everything but `/`."""


@functools.cache
def _document() -> dict:
    from octolb.api.routes.versions import VERSIONS
    return {
        "openapi": "3.1.0",
        "info": {"title": "octolb: OpenStack Octavia v2 API", "version": VERSIONS[-1][0],
                 "description": DESCRIPTION},
        "paths": _paths(),
        "components": {
            "schemas": {**RESPONSE_SCHEMAS, **request_schemas()},
            "responses": {f"Error{code}": _error_response(code) for code in ERRORS},
            "securitySchemes": {"keystone": {"type": "apiKey", "in": "header",
                                             "name": "X-Auth-Token"}},
        },
        "security": [{}, {"keystone": []}],
    }


def document() -> dict:
    """The document (a copy: callers may change theirs)."""
    return copy.deepcopy(_document())

"""Fully populated ("graph") load balancer create (octavia-v2-api §9.1.3).

`parse` turns the `listeners` and `pools` of a load balancer POST into validated bodies and
resolves the pool references by name (rules 1-4 of §9.1.3) without touching the database;
`build` then adds the pools (with their monitor and members), the listeners and their L7
policies and rules to the session of the load balancer create, every object through the
same checks and row constructors as its own create route, quotas included. Nothing is
committed here: the caller commits once, so any error leaves no row and no VIP port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from octolb.api import listener_tls, quota
from octolb.api.errors import BadRequest, Conflict, ValidationFailure
from octolb.api.routes import healthmonitors as hm_routes
from octolb.api.routes import l7policies as l7_routes
from octolb.api.routes import listeners as listener_routes
from octolb.api.routes import members as member_routes
from octolb.api.routes import pools as pool_routes
from octolb.api.schemas import graph as schema
from octolb.api.schemas.parse import sent, validate
from octolb.db.models import LoadBalancer, new_id

render_full = schema.render_full

WHERE = "load_balancer.loadbalancer"
# keys a pool given by name only still has (Octavia fills the two defaults in)
_REFERENCE_KEYS = {"name", "admin_state_up", "tls_enabled"}


@dataclass
class PolicySpec:
    body: schema.GraphL7Policy
    rules: list
    redirect_pool: str | None  # name of the pool it redirects to


@dataclass
class ListenerSpec:
    body: schema.GraphListener
    default_pool: str | None  # pool name
    policies: list[PolicySpec] = field(default_factory=list)


@dataclass
class PoolSpec:
    body: schema.GraphPool
    healthmonitor: schema.GraphHealthMonitor | None
    members: list


@dataclass
class Graph:
    pools: list[PoolSpec]
    listeners: list[ListenerSpec]


def _nested(model, raw, where: str):
    """A nested body: the resource's own body minus the project (Octavia's nested types
    have no project_id)."""
    if isinstance(raw, dict):
        extra = sorted(k for k in raw if k in schema.NO_PROJECT)
        if extra:
            noun = "attribute" if len(extra) == 1 else "attributes"
            raise BadRequest(f"Unknown {noun} for argument {where}: {', '.join(extra)}")
    return validate(model, raw, where)


def _is_full(p: schema.GraphPool) -> bool:
    return bool(sent(p) - _REFERENCE_KEYS)


def _pool_spec(p: schema.GraphPool, where: str) -> PoolSpec:
    hm = (_nested(schema.GraphHealthMonitor, p.healthmonitor, f"{where}.healthmonitor")
          if p.healthmonitor is not None else None)
    members = [_nested(schema.MEMBER, raw, f"{where}.members") for raw in p.members or []]
    return PoolSpec(p, hm, members)


def parse(listeners: list[dict] | None, pools: list[dict] | None) -> Graph:
    """Validate every nested body and hoist the pools defined inside listeners and L7
    policies next to the top-level ones; 400 for what §9.1.3 rules 1-4 refuse."""
    full = [_pool_spec(validate(schema.GraphPool, raw, f"{WHERE}.pools"), f"{WHERE}.pools")
            for raw in pools or []]
    referenced: list[str] = []

    def pool_ref(raw: dict | None, where: str) -> str | None:
        if raw is None:
            return None
        p = validate(schema.GraphPool, raw, where)
        if not p.name:
            raise ValidationFailure("Pools must be named when creating a fully populated "
                                    "loadbalancer.")
        if _is_full(p):
            full.append(_pool_spec(p, where))
        else:
            referenced.append(p.name)
        return p.name

    specs = []
    where_lis = f"{WHERE}.listeners"
    for raw in listeners or []:
        body = validate(schema.GraphListener, raw, where_lis)
        spec = ListenerSpec(body, pool_ref(body.default_pool, f"{where_lis}.default_pool"))
        for raw_policy in body.l7policies or []:
            where_pol = f"{where_lis}.l7policies"
            policy = validate(schema.GraphL7Policy, raw_policy, where_pol)
            for raw_rule in policy.rules or []:
                _nested(schema.RULE, raw_rule, f"{where_pol}.rules")
            rules = l7_routes.parse_new_rules(policy.rules, f"{where_pol}.rules")
            spec.policies.append(PolicySpec(
                policy, rules, pool_ref(policy.redirect_pool, f"{where_pol}.redirect_pool")))
        specs.append(spec)

    names = [p.body.name for p in full]
    if len(set(names)) != len(names):
        raise ValidationFailure("Pool names must be unique when creating a fully populated "
                                "loadbalancer.")
    for name in referenced:
        if name not in names:
            raise ValidationFailure(f"Pool '{name}' was referenced but no full definition "
                                    "was found.")
    return Graph(full, specs)


def build(session: Session, lb: LoadBalancer, graph: Graph) -> None:
    """Add the graph's objects below `lb` (already added to `session`), PENDING_CREATE,
    after the checks of their own create routes; raise the first error (the caller's
    session is then rolled back)."""
    project = lb.project_id
    if graph.pools:
        quota.check_and_reserve(session, project, "pool", len(graph.pools))
    pool_ids: dict[str | None, str] = {}
    for spec in graph.pools:
        pool_ids[spec.body.name] = _add_pool(session, lb, spec).id
    session.flush()  # the listeners' checks look their pools up

    if graph.listeners:
        quota.check_and_reserve(session, project, "listener", len(graph.listeners))
    for spec in graph.listeners:
        pool_id = pool_ids.get(spec.default_pool) if spec.default_pool else None
        body = spec.body.model_copy(update={"default_pool_id": pool_id or
                                            spec.body.default_pool_id})
        listener_routes._check_default_pool(session, lb, body.protocol, body.default_pool_id)
        family, allowed_cidrs = listener_routes.check_new_listener(session, lb, body)
        lis = listener_routes.new_listener(lb, body, family, allowed_cidrs)
        lis.id = new_id()
        session.add(lis)
        for policy in spec.policies:
            _add_policy(session, lis, policy, pool_ids)
        session.flush()  # the next listener's port check sees this one


def _add_pool(session: Session, lb: LoadBalancer, spec: PoolSpec):
    body = spec.body
    for attr in ("protocol", "lb_algorithm"):
        if getattr(body, attr) is None:
            raise ValidationFailure(f"Pool definition for '{body.name}' missing required "
                                    f"attribute: {attr}")
    sp = pool_routes.check_session_persistence(body.protocol, body.session_persistence)
    pool_routes._provider_supports(body.protocol, body.lb_algorithm, body.tls_enabled)
    listener_tls.check_pool(session, listener_tls.pool_view(body), lb.project_id)
    if spec.healthmonitor is not None:
        hm_routes.check_new_hm(body.protocol, spec.healthmonitor)
        quota.check_and_reserve(session, lb.project_id, "health_monitor")
    if spec.members:
        quota.check_and_reserve(session, lb.project_id, "member", len(spec.members))
    pool = pool_routes.new_pool(lb, body, sp)
    pool.id = new_id()
    session.add(pool)
    if spec.healthmonitor is not None:
        pool.health_monitor = hm_routes.new_hm(pool, spec.healthmonitor)
    seen: set[tuple[str, int]] = set()
    for m in spec.members:
        member_routes._check_new_member(session, pool, m)
        if (m.address, m.protocol_port) in seen:
            raise Conflict(f"Another member on this pool is already using ip {m.address} on "
                           f"protocol_port {m.protocol_port}")
        seen.add((m.address, m.protocol_port))
        session.add(member_routes._new_member(pool, m))
    return pool


def _add_policy(session: Session, lis, spec: PolicySpec, pool_ids: dict) -> None:
    body = spec.body
    redirect_pool_id = (pool_ids[spec.redirect_pool] if spec.redirect_pool
                        else body.redirect_pool_id)
    args = l7_routes.sanitize_policy_args(
        {"action": body.action, "redirect_pool_id": redirect_pool_id,
         "redirect_url": body.redirect_url, "redirect_prefix": body.redirect_prefix,
         "redirect_http_code": body.redirect_http_code}, create=True)
    l7_routes.check_new_policy(session, lis, args, spec.rules)
    l7_routes.add_policy(session, lis, body, args, spec.rules)


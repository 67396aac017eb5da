"""Request bodies of the objects nested in a fully populated load balancer create
(octavia-v2-api §9.1.3) and the full representation its 201 answers with.

A nested object is its resource's create body without the project and the parent ids;
the parent is the object it is nested in. Pools may be given by name only (a reference to a
pool defined elsewhere in the same request), so a nested pool's `protocol` and
`lb_algorithm` are optional here and required of a full definition by the graph logic.
"""

from __future__ import annotations

from octolb import constants as c
from octolb.api.schemas import health_monitor, l7policy, l7rule, listener, member, pool
from octolb.api.schemas import load_balancer as lb_schema
from octolb.api.schemas import types as t
from octolb.api.schemas.common import live


class GraphHealthMonitor(health_monitor._HMCommon):
    type: t.Enum(*c.HM_TYPES)
    delay: health_monitor.Seconds
    timeout: health_monitor.Seconds
    max_retries: t.Int(1, 10)


class GraphPool(pool._PoolCommon):
    protocol: t.Enum(*c.POOL_PROTOCOLS) = None
    healthmonitor: t.AnyDict() = None
    members: list[t.AnyDict()] | None = None


class GraphL7Policy(l7policy._L7PolicyCommon):
    action: t.Enum(*c.L7POLICY_ACTIONS)
    redirect_pool: t.AnyDict() = None
    rules: list[t.AnyDict()] | None = None


class GraphListener(listener._ListenerCommon):
    protocol: t.Enum(*c.LISTENER_PROTOCOLS)
    protocol_port: t.Port
    default_pool: t.AnyDict() = None
    l7policies: list[t.AnyDict()] | None = None


# The bodies reused as they are, minus these keys (a nested object has no project).
MEMBER = member.MemberPOST
RULE = l7rule.L7RulePOST
NO_PROJECT = ("project_id", "tenant_id")


def _full_policy(p) -> dict:
    d = l7policy.render(p)
    d["rules"] = [l7rule.render(r) for r in live(p.rules)]
    return d


def _full_listener(lis) -> dict:
    d = listener.render(lis)
    del d["loadbalancers"]  # Octavia leaves it out of nested listeners
    d["l7policies"] = [_full_policy(p)
                       for p in sorted(live(lis.l7policies), key=lambda p: p.position)]
    return d


def _full_pool(p) -> dict:
    d = pool.render(p)
    del d["loadbalancers"]  # nor does a nested pool show these two
    d.pop("healthmonitor_id", None)
    d["members"] = [member.render(m) for m in live(p.members)]
    hm = p.health_monitor
    if hm is not None and hm.provisioning_status != c.DELETED:
        d["healthmonitor"] = health_monitor.render(hm)
        del d["healthmonitor"]["pools"]
    else:
        d["healthmonitor"] = None
    return d


def render_full(lb) -> dict:
    """Octavia's LoadBalancerFullResponse: the LB with its listeners and pools as full
    nested objects."""
    d = lb_schema.render(lb)
    d["listeners"] = [_full_listener(lis) for lis in live(lb.listeners)]
    d["pools"] = [_full_pool(p) for p in live(lb.pools)]
    return d

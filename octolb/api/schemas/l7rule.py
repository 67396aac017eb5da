"""L7 rule request bodies and representation (wrapper keys `rule` / `rules`)."""

from __future__ import annotations

from octolb import constants as c
from octolb.api.schemas import types as t
from octolb.api.schemas.common import owned


class _L7RuleCommon(t.Body):
    type: t.Enum(*c.L7RULE_TYPES) = None
    compare_type: t.Enum(*c.L7RULE_COMPARE_TYPES) = None
    key: t.String(255) = None
    value: t.String(255) = None
    invert: t.Bool = None
    admin_state_up: t.Bool = True
    tags: t.Tags = None


class L7RulePOST(_L7RuleCommon):
    type: t.Enum(*c.L7RULE_TYPES)
    compare_type: t.Enum(*c.L7RULE_COMPARE_TYPES)
    value: t.String(255)
    invert: t.Bool = False
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class L7RulePUT(_L7RuleCommon):
    admin_state_up: t.Bool = None


def render(rule) -> dict:
    d = owned(rule)
    del d["name"]  # rules have no name (nor description, nor l7policy_id) in Octavia
    d.update({
        "type": rule.type,
        "compare_type": rule.compare_type,
        "key": rule.key,
        "value": rule.value,
        "invert": bool(rule.invert),
    })
    return d

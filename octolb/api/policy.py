"""oslo.policy rules of the load-balancer API, with Octavia's names and defaults.

Two sets of defaults, chosen as in Octavia by `[oslo_policy] enforce_new_defaults`:

* True (oslo.policy's default): Keystone's `reader` / `member` / `admin` roles in the
  caller's project ("new defaults").
* False: the deprecated `load-balancer_*` roles (`load-balancer_observer`, `_member`,
  `_global_observer`, `_quota_admin`, `_admin`) are accepted as well: oslo.policy ORs each
  rule's deprecated check string into the new one.

A policy file (`[oslo_policy] policy_file`, `policy_dirs`) overrides any rule by name.
This module knows nothing of HTTP: it checks a credentials dict against a target dict;
`octolb.api.auth` builds both from the request.
"""

from __future__ import annotations

import threading
from typing import Any

from oslo_policy import policy as oslo_policy

from octolb.config import CONF

PREFIX = "os_load-balancer_api:"

_SINCE = "2024.1"
_WHY = ("Octavia's load-balancer_* roles give way to Keystone's default reader, member and "
        "admin roles.")


def _deprecated(name: str, check_str: str) -> oslo_policy.DeprecatedRule:
    return oslo_policy.DeprecatedRule(name, check_str, deprecated_reason=_WHY,
                                      deprecated_since=_SINCE)


def _base(name: str, check_str: str, legacy: str | None = None) -> oslo_policy.RuleDefault:
    return oslo_policy.RuleDefault(
        name, check_str, deprecated_rule=_deprecated(name, legacy) if legacy else None)


# §8.1: building blocks. The third column is the legacy check string, OR'ed in when
# enforce_new_defaults is False.
BASE_RULES = [
    _base("project-member", "role:member and project_id:%(project_id)s"),
    _base("project-reader", "role:reader and project_id:%(project_id)s"),
    _base("context_is_admin", "role:admin", "role:admin or role:load-balancer_admin"),
    _base("load-balancer:owner", "project_id:%(project_id)s"),
    _base("load-balancer:admin", "is_admin:True or role:admin",
          "is_admin:True or role:admin or role:load-balancer_admin"),
    _base("service", "role:service"),
    _base("load-balancer:global_observer", "role:admin", "role:load-balancer_global_observer"),
    _base("load-balancer:member_and_owner", "rule:project-member",
          "role:load-balancer_member and rule:load-balancer:owner"),
    _base("load-balancer:observer_and_owner", "rule:project-reader",
          "role:load-balancer_observer and rule:load-balancer:owner"),
    _base("load-balancer:quota-admin", "role:admin", "role:load-balancer_quota_admin"),
    _base("load-balancer:read",
          "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
          "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    _base("load-balancer:read-global",
          "rule:load-balancer:global_observer or rule:load-balancer:admin"),
    _base("load-balancer:write",
          "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    _base("load-balancer:read-quota",
          "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
          "rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or "
          "rule:load-balancer:admin"),
    _base("load-balancer:read-quota-global",
          "rule:load-balancer:global_observer or rule:load-balancer:quota-admin or "
          "rule:load-balancer:admin"),
    _base("load-balancer:write-quota",
          "rule:load-balancer:quota-admin or rule:load-balancer:admin"),
]

READ = "rule:load-balancer:read"
READ_GLOBAL = "rule:load-balancer:read-global"
WRITE = "rule:load-balancer:write"
ADMIN = "rule:load-balancer:admin"
READ_QUOTA = "rule:load-balancer:read-quota"
READ_QUOTA_GLOBAL = "rule:load-balancer:read-quota-global"
WRITE_QUOTA = "rule:load-balancer:write-quota"

_CRUD = {"get_all": READ, "get_all-global": READ_GLOBAL, "post": WRITE, "get_one": READ,
         "put": WRITE, "delete": WRITE}
_ADMIN_CRUD = {a: ADMIN for a in ("get_all", "post", "get_one", "put", "delete")}

# §8.2: resource -> {action: default check string}.
API_RULES: dict[str, dict[str, str]] = {
    "loadbalancer": {**_CRUD, "post:vip_sg_ids": WRITE, "put:vip_sg_ids": WRITE,
                     "get_stats": READ, "get_status": READ, "put_failover": ADMIN},
    "listener": {**_CRUD, "get_stats": READ},
    "pool": dict(_CRUD),
    "member": {**{k: v for k, v in _CRUD.items() if k != "get_all-global"},
               "get_all": f"{READ} or rule:service"},
    "healthmonitor": dict(_CRUD),
    "l7policy": dict(_CRUD),
    "l7rule": {k: v for k, v in _CRUD.items() if k != "get_all-global"},
    "quota": {"get_all": READ_QUOTA, "get_all-global": READ_QUOTA_GLOBAL,
              "get_one": READ_QUOTA, "put": WRITE_QUOTA, "delete": WRITE_QUOTA,
              "get_defaults": READ_QUOTA},
    "amphora": {a: ADMIN for a in ("get_all", "get_one", "delete", "put_config",
                                   "put_failover", "get_stats")},
    "provider": {"get_all": READ},
    "provider-flavor": {"get_all": ADMIN},
    "provider-availability-zone": {"get_all": ADMIN},
    "flavor": {"get_all": READ, "post": ADMIN, "get_one": READ, "put": ADMIN,
               "delete": ADMIN},
    "flavor-profile": dict(_ADMIN_CRUD),
    "availability-zone": {"get_all": READ, "post": ADMIN, "get_one": READ, "put": ADMIN,
                          "delete": ADMIN},
    "availability-zone-profile": dict(_ADMIN_CRUD),
}


# octolb's own rules (no Octavia counterpart), by their full names. The built-in network
# service (/network) follows Neutron's defaults: a caller reads the objects of its project and
# `shared` networks with their subnets (the target's `shared`); a member of the owning project
# (or an admin) creates and deletes; only an admin shares a network. Subnets are checked
# against the network's project (Neutron's network owner), ports against their own project.
# The target of every network rule has `project_id` and `shared`.
SHARED = "True:%(shared)s"
OCTOLB_RULES: dict[str, tuple[str, str]] = {
    "network:get_network": (f"{READ} or {SHARED}", "Show or list a network."),
    "network:create_network": (WRITE, "Create a network in the target project."),
    "network:create_network:shared": (ADMIN, "Create a shared network."),
    "network:delete_network": (WRITE, "Delete a network (and its subnets)."),
    "network:get_subnet": (f"{READ} or {SHARED}",
                           "Show or list a subnet (shared: its network is shared)."),
    "network:create_subnet": (WRITE, "Create a subnet on a network of the target project."),
    "network:delete_subnet": (WRITE, "Delete a subnet of a network of the target project."),
    "network:get_port": (READ, "Show or list a port."),
    "network:create_port": (WRITE, "Create a port (on an own or a shared network)."),
    "network:delete_port": (WRITE, "Delete a port."),
    "metrics:get": (READ_GLOBAL, "GET /metrics: cloud-wide counts (admin, global observer)."),
}


def list_rules() -> list[oslo_policy.RuleDefault]:
    """Every registered default (also what oslopolicy-sample-generator would print)."""
    api = [oslo_policy.RuleDefault(f"{PREFIX}{res}:{action}", check,
                                   description=f"{action} on {res}", scope_types=["project"])
           for res, actions in API_RULES.items() for action, check in actions.items()]
    own = [oslo_policy.RuleDefault(name, check, description=why, scope_types=["project"])
           for name, (check, why) in OCTOLB_RULES.items()]
    return BASE_RULES + api + own


def full_name(action: str) -> str:
    """`loadbalancer:get_one` -> `os_load-balancer_api:loadbalancer:get_one`; full API
    names and building blocks (`context_is_admin`, `load-balancer:read`) are left as is."""
    return PREFIX + action if action.split(":", 1)[0] in API_RULES else action


_lock = threading.Lock()
_enforcer: oslo_policy.Enforcer | None = None
_enforcer_key: tuple | None = None


def _settings_key() -> tuple:
    """What an Enforcer reads once at build time: a change of any of these (tests, a
    re-parsed configuration) builds a new one. The policy file itself is re-read by
    oslo.policy when it changes on disk."""
    op = CONF.oslo_policy
    return (op.policy_file, tuple(op.policy_dirs), op.enforce_new_defaults,
            tuple(getattr(CONF, "config_file", None) or ()),
            getattr(CONF, "config_dir", None))


def enforcer() -> oslo_policy.Enforcer:
    global _enforcer, _enforcer_key
    key = _settings_key()
    with _lock:
        if _enforcer is None or _enforcer_key != key:
            e = oslo_policy.Enforcer(CONF)
            e.register_defaults(list_rules())
            # The deprecation of the load-balancer_* roles is documented; one warning per
            # rule at every (re)build only adds noise.
            e.suppress_default_change_warnings = True
            e.load_rules()
            _enforcer, _enforcer_key = e, key
        return _enforcer


def check(action: str, target: dict[str, Any], creds: dict[str, Any]) -> bool:
    """True when `creds` pass the rule `action` (short or full name) for `target`.

    A system- or domain-scoped caller fails every API rule (scope_types=['project']).
    """
    return bool(enforcer().enforce(full_name(action), dict(target), dict(creds)))

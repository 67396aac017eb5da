"""Request context (who is asking, in which project, with which roles) and the policy checks
routes call.

`noauth` (the default of `octolb up`): the caller is `[api_settings] noauth_project_id` with
`noauth_roles` (admin), so the stock CLI with `auth_type: none` works. With
`noauth_trust_headers` (default) `X-Project-Id`, `X-Roles` and `X-User-Id` replace them when
sent, as Octavia's noauth honours `X-Project-Id`.

`keystone`: keystonemiddleware (in front of the API) validated the token and set
`X-Project-Id`, `X-Roles`, `X-User-Id`, `X-Domain-Id`, `OpenStack-System-Scope`; they are read
as they are.

In a route, one line checks a rule of `octolb.api.policy` against the project owning the
object:

    auth.enforce(ctx, "loadbalancer:get_one", lb.project_id)      # 403 when refused
    ctx = Depends(auth.require("flavor:get_all"))                 # the caller's own project
    project = auth.list_scope(ctx, "loadbalancer", request)       # list scoping (§8.4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from octolb.api import policy
from octolb.api.errors import Forbidden
from octolb.config import CONF


@dataclass(frozen=True)
class Context:
    project_id: str | None
    is_admin: bool
    roles: tuple[str, ...] = ()
    user_id: str | None = None
    domain_id: str | None = None
    system_scope: str | None = None

    def creds(self) -> dict[str, Any]:
        """The credentials oslo.policy checks (the keys oslo.context would give it)."""
        return {"project_id": self.project_id, "user_id": self.user_id,
                "roles": list(self.roles), "is_admin": self.is_admin,
                "domain_id": self.domain_id, "system": self.system_scope}


def _roles(raw: str | None) -> tuple[str, ...]:
    return tuple(r.strip() for r in (raw or "").split(",") if r.strip())


def make_context(project_id: str | None, roles: tuple[str, ...] | list[str],
                 user_id: str | None = None, domain_id: str | None = None,
                 system_scope: str | None = None) -> Context:
    """`is_admin` is the `context_is_admin` rule over the roles (as in Octavia)."""
    base = Context(project_id, False, tuple(roles), user_id, domain_id, system_scope)
    is_admin = policy.check("context_is_admin", {"project_id": project_id}, base.creds())
    return Context(project_id, is_admin, tuple(roles), user_id, domain_id, system_scope)


def context(request: Request) -> Context:
    h = request.headers
    api = CONF.api_settings
    if api.auth_strategy == "noauth":
        project, roles, user = api.noauth_project_id, tuple(api.noauth_roles), None
        if api.noauth_trust_headers:
            project = h.get("X-Project-Id") or project
            if "X-Roles" in h:
                roles = _roles(h["X-Roles"])
            user = h.get("X-User-Id")
        return make_context(project, roles, user)
    if h.get("X-Identity-Status", "Confirmed") != "Confirmed":
        return make_context(None, ())  # keystonemiddleware with delay_auth_decision
    return make_context(h.get("X-Project-Id"), _roles(h.get("X-Roles")), h.get("X-User-Id"),
                        h.get("X-Domain-Id"), h.get("OpenStack-System-Scope"))


def allowed(ctx: Context, action: str, project_id: str | None) -> bool:
    """Does the rule `action` (e.g. `pool:put`) let `ctx` act on an object of
    `project_id`?"""
    return policy.check(action, {"project_id": project_id}, ctx.creds())


def allowed_on(ctx: Context, action: str, target: dict[str, Any]) -> bool:
    """`allowed` with a full target (e.g. the network rules' `shared`)."""
    return policy.check(action, target, ctx.creds())


def enforce(ctx: Context, action: str, project_id: str | None) -> None:
    """403 with Octavia's faultstring unless `action` is allowed on `project_id`'s object."""
    if not allowed(ctx, action, project_id):
        raise Forbidden()


def require(action: str) -> Callable[..., Context]:
    """A FastAPI dependency: checks `action` against the caller's own project (the target
    Octavia uses for flavors, AZs, providers and amphorae) and returns the context."""

    def dependency(ctx: Context = Depends(context)) -> Context:
        enforce(ctx, action, ctx.project_id)
        return ctx

    return dependency


def list_scope(ctx: Context, resource: str, request: Request) -> str | None:
    """The project a list of `resource` must be restricted to; None = all projects.

    A caller allowed `<resource>:get_all-global` (admin, global observer) sees every project,
    or the one `?project_id=` names (the list's own filter applies it). Anyone else sees the
    `?project_id=` project if `<resource>:get_all` allows it for that project (a tenant asking
    for another project gets 403), otherwise their own.
    """
    wanted = request.query_params.get("project_id")
    if allowed(ctx, f"{resource}:get_all-global", wanted):
        return None
    project = wanted or ctx.project_id
    if not project:
        raise Forbidden()
    enforce(ctx, f"{resource}:get_all", project)
    return project


def authorize(ctx: Context, project_id: str | None) -> None:
    """Owner or admin (kept for callers not yet on `enforce`); a non-owner gets 403."""
    if ctx.is_admin:
        return
    if project_id is None or ctx.project_id != project_id:
        raise Forbidden()

"""Request context: who is asking, for which project. Policy checks live here too.

`noauth` (the default of `octolb up`): every caller is admin; the project comes from the
`X-Project-Id` header or `[api_settings] noauth_project_id`. Keystone (keystonemiddleware
fills X-Project-Id / X-Roles) is a later step; the checks below already read those headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from octolb.api.errors import Forbidden
from octolb.config import CONF


@dataclass(frozen=True)
class Context:
    project_id: str | None
    is_admin: bool


def context(request: Request) -> Context:
    project = request.headers.get("X-Project-Id")
    if CONF.api_settings.auth_strategy == "noauth":
        return Context(project or CONF.api_settings.noauth_project_id, True)
    roles = {r.strip().lower() for r in request.headers.get("X-Roles", "").split(",")}
    return Context(project, "admin" in roles)


def authorize(ctx: Context, project_id: str | None) -> None:
    """Owner or admin; a non-owner gets 403 (Octavia reveals existence the same way)."""
    if ctx.is_admin:
        return
    if project_id is None or ctx.project_id != project_id:
        raise Forbidden()

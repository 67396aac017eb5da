"""The identity look-ups the stock CLI makes before it calls the load-balancer API, answered
in embedded (noauth) mode: `openstack loadbalancer quota set <project>` and `--project`
options resolve a project through Keystone's `GET /v3/projects/{id}` or
`GET /v3/projects?name=`. octolb has no project registry: every project is its own name,
which is also what the CLI falls back to when Keystone refuses to say.

With `auth_type: none` keystoneclient asks the noauth plugin for the identity endpoint, and
that plugin has one endpoint for every service without an override (the key manager's v1,
see cli.write_clouds_yaml), so the routes are served there too, besides `/identity/v3`."""

from __future__ import annotations

import re

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from octolb.config import CONF

router = APIRouter()

# Keystone's project ids are 32 hex digits; names are free text. Either is accepted, within
# what the quota API itself accepts as a project id.
_PROJECT = re.compile(r"[^\x00-\x1f\x7f/]{1,255}")


def _project(name_or_id: str, base: str) -> dict:
    return {"id": name_or_id, "name": name_or_id, "domain_id": "default",
            "description": "", "enabled": True, "parent_id": "default", "is_domain": False,
            "tags": [], "options": {},
            "links": {"self": f"{base}/projects/{name_or_id}"}}


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": {"code": 404, "title": "Not Found",
                                   "message": f"Could not find project: {what}."}},
                        status_code=404)


def _routes(prefix: str) -> None:
    @router.get(f"{prefix}/projects/{{project_id}}")
    def show_project(project_id: str):
        if CONF.api_settings.auth_strategy != "noauth" or not _PROJECT.fullmatch(project_id):
            return _not_found(project_id)
        return {"project": _project(project_id, prefix)}

    @router.get(f"{prefix}/projects")
    def list_projects(name: str | None = Query(None)):
        if CONF.api_settings.auth_strategy != "noauth":
            return {"projects": [], "links": {"self": f"{prefix}/projects"}}
        names = [name] if name and _PROJECT.fullmatch(name) else []
        if name is None:
            names = [CONF.api_settings.noauth_project_id]
        return {"projects": [_project(n, prefix) for n in names],
                "links": {"self": f"{prefix}/projects", "next": None, "previous": None}}


_routes("/identity/v3")
_routes("/key-manager/v1")

"""The API application: load-balancer v2 under /v2 and /v2.0, version discovery at /, the
minimal network API under /network, the built-in key manager under /key-manager."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from octolb import metrics as counters
from octolb.api import errors, openapi
from octolb.api.routes import (
    amphorae,
    availability_zone_profiles,
    availability_zones,
    flavorprofiles,
    flavors,
    healthmonitors,
    identity,
    keymanager,
    l7policies,
    listeners,
    loadbalancers,
    members,
    metrics,
    network,
    pools,
    providers,
    quotas,
    versions,
)
from octolb.controller.bus import Bus

LBAAS = (loadbalancers.router, listeners.router, pools.router, members.router,
         healthmonitors.router, providers.router, quotas.router, l7policies.router,
         flavors.router, flavorprofiles.router, availability_zones.router,
         availability_zone_profiles.router)


def _v2() -> APIRouter:
    v2 = APIRouter()
    for r in LBAAS:
        v2.include_router(r, prefix="/lbaas")
    v2.include_router(amphorae.router, prefix="/octavia")
    return v2


def create_app(bus: Bus) -> FastAPI:
    app = FastAPI(title="octolb", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bus = bus
    errors.install(app)

    @app.middleware("http")
    async def request_id_and_accept(request: Request, call_next):
        rid = f"req-{uuid.uuid4()}"
        accept = request.headers.get("accept", "")
        # the key manager serves secret payloads in their own media types
        if accept and not request.scope["path"].startswith("/key-manager/") and not any(
                a.split(";")[0].strip() in ("application/json", "*/*", "application/*")
                for a in accept.split(",")):
            resp = JSONResponse({"errors": [{
                "status": 406, "title": "Not Acceptable",
                "detail": "Only content type application/json is accepted.",
                "request_id": rid}]}, status_code=406)
        else:
            path = request.scope["path"]
            if path.endswith(".json"):
                request.scope["path"] = path[:-5]
            resp = await call_next(request)
        resp.headers["X-OpenStack-Request-Id"] = rid
        counters.inc("octolb_api_requests_total", "API requests by method and status code.",
                     method=request.method, code=str(resp.status_code))
        return resp

    @app.get("/openapi", include_in_schema=False)
    def openapi_document():
        # served as /openapi.json (the middleware strips the suffix); replaces FastAPI's
        # generated document, which knows nothing of the bodies the routes parse themselves
        return openapi.document()

    app.include_router(versions.router)
    app.include_router(metrics.router)
    app.include_router(network.router)
    app.include_router(identity.router)  # before the key manager's catch-all
    app.include_router(keymanager.router)
    v2 = _v2()
    app.include_router(v2, prefix="/v2")
    app.include_router(v2, prefix="/v2.0")
    return app

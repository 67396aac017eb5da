"""The built-in key manager's API (Barbican v1 shapes) under `/key-manager`: version
discovery at its root (python-barbicanclient negotiates the microversion there), secrets
(store, show, payload, list, delete), containers (generic, certificate, rsa) and their
consumers (octolb/certs/consumers.py). A secret or container with consumers is not deleted
without `force` (Barbican's microversion 1.2 rule, applied here whatever the version).

Its own root, like `/network`, because the clients discover versions at the key-manager
endpoint's root. Errors use Barbican's body `{"code", "title", "description"}`, which
barbicanclient prints. A project sees only its own secrets and containers (admin: all).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.datastructures import QueryParams
from fastapi.responses import JSONResponse
from oslo_utils import strutils
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from octolb.api import auth, deps
from octolb.certs import consumers, store
from octolb.config import CONF
from octolb.db.models import Secret, SecretContainer

router = APIRouter(prefix="/key-manager")

# 1.1: secret consumers; 1.2: deleting a secret with consumers needs `force`
MIN_VERSION, MAX_VERSION = "1.0", "1.2"
# Barbican's default limit is 20000 bytes; a CA bundle may be larger than that
MAX_PAYLOAD_BYTES = 65536
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
TEXT_TYPES = ("text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8")
BINARY_TYPES = ("application/octet-stream", "application/pkcs8", "application/pkix-cert",
                "application/pkcs12", "application/pkix-crl")
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 406: "Not Acceptable",
           409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type"}


class KMError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse({"code": status, "title": _TITLES.get(status, "Error"),
                         "description": description}, status_code=status)


def _base(request: Request) -> str:
    base = CONF.api_settings.api_base_uri or str(request.base_url)
    return f"{base.rstrip('/')}/key-manager"


def _ts(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else None


def _project(ctx: auth.Context) -> str:
    if not ctx.project_id:
        raise KMError(403, "A project is required to use the key manager.")
    return ctx.project_id


def _uuid_or_404(value: str, what: str) -> str:
    try:
        return store.parse_ref(f"v1/{what}s/{value}").id
    except store.ForeignRef:
        raise KMError(404, f"{what.capitalize()} not found.") from None


async def _json(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > 4 * MAX_PAYLOAD_BYTES:
        raise KMError(413, "Request body too large.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise KMError(400, "Malformed JSON") from None
    if not isinstance(body, dict):
        raise KMError(400, "The request body must be a JSON object.")
    return body


def _opt_str(body: dict, key: str, limit: int = 255) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or any(
            ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise KMError(400, f"Invalid '{key}': a string of at most {limit} printable "
                      "characters is expected.")
    return value


def _guard(handler):
    """Turn KMError into Barbican's error body (FastAPI handlers stay linear)."""
    import functools
    import inspect

    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def wrapped_async(*args, **kwargs):
            try:
                return await handler(*args, **kwargs)
            except KMError as exc:
                return _error(exc.status, exc.description)
        return wrapped_async

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except KMError as exc:
            return _error(exc.status, exc.description)
    return wrapped


# --- version discovery --------------------------------------------------------------

def _version(request: Request) -> dict:
    return {"id": "v1", "status": "CURRENT", "min_version": MIN_VERSION,
            "max_version": MAX_VERSION,
            "links": [{"rel": "self", "href": f"{_base(request)}/v1/"},
                      {"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.key-manager-v1+json"}]}


@router.get("")
@router.get("/")
def versions(request: Request):
    return {"versions": {"values": [_version(request)]}}


@router.get("/v1")
@router.get("/v1/")
def version_v1(request: Request):
    return {"version": _version(request)}


# --- secrets ------------------------------------------------------------------------

def _lbaas(request: Request) -> str:
    base = CONF.api_settings.api_base_uri or str(request.base_url)
    return f"{base.rstrip('/')}/v2/lbaas"


def _consumer_url(request: Request, e: consumers.Consumer) -> str:
    """A container consumer's `URL`: the load balancers' uses name their object."""
    if e.ours:
        return f"{_lbaas(request)}/{e.resource_type}s/{e.resource_id}"
    return e.resource_id


def render_consumer(request: Request, kind: str, e: consumers.Consumer,
                    full: bool = False) -> dict:
    """A consumer as a secret (`service`, `resource_type`, `resource_id`) or a container
    (`name`, `URL`) shows it; `full` adds what a consumer list carries."""
    if kind == consumers.SECRET:
        doc: dict = {"service": e.service, "resource_type": e.resource_type or "",
                     "resource_id": e.resource_id}
    else:
        doc = {"name": e.service, "URL": _consumer_url(request, e)}
    if full:
        doc.update(status="ACTIVE", created=_ts(e.created), updated=_ts(e.updated))
    return doc


def render_secret(request: Request, s: Secret,
                  used_by: list[consumers.Consumer] | None = None) -> dict:
    doc = {
        "secret_ref": f"{_base(request)}/v1/secrets/{s.id}", "name": s.name,
        "status": "ACTIVE", "secret_type": s.secret_type, "algorithm": s.algorithm,
        "bit_length": s.bit_length, "mode": s.mode, "expiration": _ts(s.expiration),
        "creator_id": s.creator_id, "created": _ts(s.created_at),
        "updated": _ts(s.updated_at or s.created_at),
        "consumers": [render_consumer(request, consumers.SECRET, e) for e in used_by or []],
    }
    if s.payload is not None:
        doc["content_types"] = {"default": s.content_type or "application/octet-stream"}
    return doc


def _decode_payload(body: dict) -> tuple[bytes | None, str | None]:
    """The payload bytes and the content type they are served with, by Barbican's rules."""
    payload = body.get("payload")
    ctype = body.get("payload_content_type")
    encoding = body.get("payload_content_encoding")
    if payload is None:
        if ctype is not None or encoding is not None:
            raise KMError(400, "payload_content_type and payload_content_encoding need a "
                          "payload.")
        return None, None
    if not isinstance(payload, str) or not payload.strip():
        raise KMError(400, "If 'payload' is specified, it must be a non-empty string.")
    if not isinstance(ctype, str):
        raise KMError(400, "If 'payload' is supplied, 'payload_content_type' must also be "
                      "supplied.")
    ctype = ctype.strip().lower()
    if ctype in TEXT_TYPES:
        if encoding is not None:
            raise KMError(400, "payload_content_encoding is not allowed with payload_"
                          "content_type text/plain.")
        data = payload.encode("utf-8")
        ctype = "text/plain"
    elif ctype in BINARY_TYPES:
        if encoding != "base64":
            raise KMError(400, "payload_content_encoding 'base64' is required for "
                          f"payload_content_type {ctype}.")
        try:
            data = base64.b64decode(payload.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise KMError(400, "The payload is not valid base64.") from None
    else:
        raise KMError(400, f"payload_content_type {ctype!r} is not supported; use "
                      f"one of {', '.join(TEXT_TYPES[:1] + BINARY_TYPES)}.")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise KMError(413, f"The payload is larger than {MAX_PAYLOAD_BYTES} bytes.")
    if not data:
        raise KMError(400, "If 'payload' is specified, it must be non-empty.")
    return data, ctype


def _expiration(value) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise KMError(400, f"Invalid expiration {value!r}: an ISO 8601 date is "
                      "expected.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    if when <= dt.datetime.now(dt.UTC).replace(tzinfo=None):
        raise KMError(400, "'expiration' is before current time")
    return when


@router.post("/v1/secrets", status_code=201)
@router.post("/v1/secrets/", status_code=201, include_in_schema=False)
@_guard
async def create_secret(request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    project = _project(ctx)
    body = await _json(request)
    secret_type = body.get("secret_type") or "opaque"
    if secret_type not in store.SECRET_TYPES:
        raise KMError(400, f"Invalid secret_type {secret_type!r}: one of "
                      f"{', '.join(store.SECRET_TYPES)}.")
    bit_length = body.get("bit_length")
    if bit_length is not None and (isinstance(bit_length, bool) or not isinstance(
            bit_length, int) or bit_length <= 0):
        raise KMError(400, "'bit_length' must be a positive integer.")
    name = _opt_str(body, "name")
    algorithm, mode = _opt_str(body, "algorithm"), _opt_str(body, "mode")
    expiration = _expiration(body.get("expiration"))
    payload, ctype = _decode_payload(body)
    secret = store.store_secret(
        session, project_id=project, creator_id=ctx.user_id, name=name,
        secret_type=secret_type, content_type=ctype, payload=payload, algorithm=algorithm,
        bit_length=bit_length, mode=mode, expiration=expiration)
    session.commit()
    return JSONResponse({"secret_ref": f"{_base(request)}/v1/secrets/{secret.id}"},
                        status_code=201)


def _limit_offset(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise KMError(400, "limit and offset must be integers.") from None
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


def _matching(query: QueryParams, columns: dict) -> list:
    """Equality filters for the query parameters that are set (`?name=x` → name == x)."""
    return [column == query[param] for param, column in columns.items() if query.get(param)]


def _page_of(request: Request, session: Session, ctx: auth.Context, kind: str, model,
             render: Callable[[Request, Any, list], dict],
             filters: Callable[[QueryParams], list]) -> dict:
    """One page of the project's secrets or containers (`kind`), oldest first, with
    Barbican's `total` and `next`/`previous` links."""
    project = _project(ctx)
    limit, offset = _limit_offset(request)
    where = [model.project_id == project, *filters(request.query_params)]
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    rows = list(session.scalars(select(model).where(*where)
                                .order_by(model.created_at, model.id)
                                .limit(limit).offset(offset)))
    used_by = consumers.consumers_of(session, kind[:-1], [row.id for row in rows], project)
    doc: dict = {kind: [render(request, row, used_by[row.id]) for row in rows],
                 "total": total}
    url = f"{_base(request)}/v1/{kind}"
    if offset + limit < total:
        doc["next"] = f"{url}?limit={limit}&offset={offset + limit}"
    if offset > 0:
        doc["previous"] = f"{url}?limit={limit}&offset={max(0, offset - limit)}"
    return doc


_GETTERS = {"secret": store.get_secret, "container": store.get_container}


def _get_or_404(session: Session, ctx: auth.Context, what: str, ref_id: str):
    """The project's secret or container (`what`) of that id; 404 for any other id."""
    try:
        return _GETTERS[what](session, _uuid_or_404(ref_id, what), _project(ctx),
                              is_admin=False)
    except store.RefNotFound:
        raise KMError(404, f"{what.capitalize()} not found.") from None


def _secret_filters(query: QueryParams) -> list:
    where = _matching(query, {"name": Secret.name, "alg": Secret.algorithm,
                              "mode": Secret.mode, "secret_type": Secret.secret_type})
    if query.get("bits"):
        try:
            where.append(Secret.bit_length == int(query["bits"]))
        except ValueError:
            raise KMError(400, "bits must be an integer.") from None
    return where


@router.get("/v1/secrets")
@router.get("/v1/secrets/", include_in_schema=False)
@_guard
def list_secrets(request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    return _page_of(request, session, ctx, "secrets", Secret, render_secret, _secret_filters)


@router.get("/v1/secrets/{secret_id}")
@_guard
def show_secret(secret_id: str, request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    secret = _get_or_404(session, ctx, "secret", secret_id)
    accept = request.headers.get("accept", "application/json").split(";")[0].strip()
    if accept not in ("application/json", "*/*", "", "application/*"):
        return _payload_response(request, secret)  # the pre-1.0 way of reading a payload
    return render_secret(request, secret, _used_by(session, consumers.SECRET, secret))


def _used_by(session: Session, kind: str, obj) -> list[consumers.Consumer]:
    return consumers.consumers_of(session, kind, [obj.id], obj.project_id)[obj.id]


def _payload_response(request: Request, secret: Secret) -> Response:
    try:
        data = store.secret_payload(secret)
    except store.KeyManagerError as exc:
        raise KMError(500, str(exc)) from None
    if data is None:
        raise KMError(404, "Secret payload not found.")
    stored = secret.content_type or "application/octet-stream"
    accept = request.headers.get("accept", "*/*").split(";")[0].strip().lower()
    if accept not in ("*/*", "", stored) and not (
            stored == "text/plain" and accept.startswith("text/plain")) and not (
            stored != "text/plain" and accept == "application/octet-stream"):
        raise KMError(406, f"The secret's payload is {stored}; it cannot be served as "
                      f"{accept}.")
    return Response(content=data, media_type=stored)


@router.get("/v1/secrets/{secret_id}/payload")
@_guard
def secret_payload(secret_id: str, request: Request, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    return _payload_response(request, _get_or_404(session, ctx, "secret", secret_id))


# --- containers ---------------------------------------------------------------------

def render_container(request: Request, c: SecretContainer,
                     used_by: list[consumers.Consumer] | None = None) -> dict:
    base = _base(request)
    return {
        "container_ref": f"{base}/v1/containers/{c.id}", "name": c.name, "type": c.type,
        "status": "ACTIVE", "creator_id": c.creator_id,
        "consumers": [render_consumer(request, consumers.CONTAINER, e)
                      for e in used_by or []],
        "created": _ts(c.created_at), "updated": _ts(c.updated_at or c.created_at),
        "secret_refs": [{"name": name, "secret_ref": f"{base}/v1/secrets/{sid}"}
                        for name, sid in (c.secret_refs or {}).items()],
    }


def _container_refs(session: Session, project: str, kind: str, refs) -> dict[str, str]:
    if refs is None:
        refs = []
    if not isinstance(refs, list):
        raise KMError(400, "'secret_refs' must be a list of {name, secret_ref}.")
    out: dict[str, str] = {}
    for entry in refs:
        if not (isinstance(entry, dict) and isinstance(entry.get("secret_ref"), str)):
            raise KMError(400, "Each of 'secret_refs' needs a 'secret_ref' string.")
        name = _opt_str(entry, "name") or ""
        if name in out:
            raise KMError(400, "Duplicate reference names are not allowed.")
        try:
            ref = store.parse_ref(entry["secret_ref"])
        except store.ForeignRef:
            raise KMError(400, f"Invalid secret_ref for {name!r}: a secret reference of "
                          "this key manager is expected.") from None
        if ref.kind != "secrets":
            raise KMError(400, f"Invalid secret_ref for {name!r}: not a secret.")
        try:
            store.get_secret(session, ref.id, project, is_admin=False)
        except store.RefNotFound:
            raise KMError(404, f"Secret provided for '{name}' doesn't exist.") from None
        out[name] = ref.id
    allowed, required = {
        "certificate": (store.CERTIFICATE_CONTAINER_NAMES, ("certificate",)),
        "rsa": (store.RSA_CONTAINER_NAMES, ("public_key", "private_key")),
    }.get(kind, (None, ()))
    if allowed is not None:
        extra = sorted(set(out) - set(allowed))
        if extra:
            raise KMError(400, f"Secret names {extra} are not allowed in a {kind} container "
                          f"(allowed: {', '.join(allowed)}).")
        missing = [n for n in required if n not in out]
        if missing:
            raise KMError(400, f"A {kind} container needs the secrets {missing}.")
    return out


@router.post("/v1/containers", status_code=201)
@router.post("/v1/containers/", status_code=201, include_in_schema=False)
@_guard
async def create_container(request: Request, session: Session = Depends(deps.db),
                           ctx: auth.Context = Depends(auth.context)):
    project = _project(ctx)
    body = await _json(request)
    kind = body.get("type")
    if kind not in store.CONTAINER_TYPES:
        raise KMError(400, f"Invalid container type {kind!r}: one of "
                      f"{', '.join(store.CONTAINER_TYPES)}.")
    name = _opt_str(body, "name")
    refs = _container_refs(session, project, kind, body.get("secret_refs"))
    container = SecretContainer(project_id=project, creator_id=ctx.user_id, name=name,
                                type=kind, secret_refs=refs)
    session.add(container)
    session.commit()
    return JSONResponse({"container_ref": f"{_base(request)}/v1/containers/{container.id}"},
                        status_code=201)


@router.get("/v1/containers")
@router.get("/v1/containers/", include_in_schema=False)
@_guard
def list_containers(request: Request, session: Session = Depends(deps.db),
                    ctx: auth.Context = Depends(auth.context)):
    return _page_of(request, session, ctx, "containers", SecretContainer, render_container,
                    lambda query: _matching(query, {"name": SecretContainer.name,
                                                    "type": SecretContainer.type}))


@router.get("/v1/containers/{container_id}")
@_guard
def show_container(container_id: str, request: Request, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    container = _get_or_404(session, ctx, "container", container_id)
    return render_container(request, container,
                            _used_by(session, consumers.CONTAINER, container))


def _delete_route(what: str) -> None:
    @router.delete(f"/v1/{what}s/{{ref_id}}", status_code=204)
    @_guard
    def delete(ref_id: str, request: Request, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
        obj = _get_or_404(session, ctx, what, ref_id)
        try:
            force = strutils.bool_from_string(request.query_params.get("force", "false"),
                                              strict=True)
        except ValueError:
            raise KMError(400, "'force' must be a boolean.") from None
        if not force:
            blocking = consumers.in_the_way(session, what, obj)
            if blocking:
                raise KMError(409, f"{what.capitalize()} cannot be deleted as it has "
                              f"consumers. In use by: {'; '.join(blocking)}. Remove them "
                              "first (for a load balancer: change or unset its reference, "
                              "or delete it), or delete with force=true.")
        consumers.forget(session, what, obj.id)
        session.delete(obj)
        session.commit()
        return Response(status_code=204)


_delete_route("secret")
_delete_route("container")


# --- consumers (secrets: API 1.1; containers: v1) ------------------------------------

_CONSUMER_FIELDS = {consumers.SECRET: ("service", "resource_type", "resource_id"),
                    consumers.CONTAINER: ("name", "URL")}


async def _consumer_body(request: Request, what: str) -> tuple[str, str | None, str]:
    """(service, resource_type, resource_id) of a consumer body; a container consumer's
    name and URL are kept as service and resource_id."""
    body = await _json(request)
    values = []
    for key in _CONSUMER_FIELDS[what]:
        value = _opt_str(body, key)
        if not value or not value.strip():
            raise KMError(400, f"'{key}' is required: a non-empty string.")
        values.append(value)
    if what == consumers.SECRET:
        return values[0], values[1], values[2]
    return values[0], None, values[1]


def _consumer_routes(what: str) -> None:
    path = f"/v1/{what}s/{{ref_id}}/consumers"
    render = render_secret if what == consumers.SECRET else render_container

    @router.get(path)
    @router.get(f"{path}/", include_in_schema=False)
    @_guard
    def list_consumers(ref_id: str, request: Request, session: Session = Depends(deps.db),
                       ctx: auth.Context = Depends(auth.context)):
        obj = _get_or_404(session, ctx, what, ref_id)
        limit, offset = _limit_offset(request)
        entries = _used_by(session, what, obj)
        doc: dict = {"consumers": [render_consumer(request, what, e, full=True)
                                   for e in entries[offset:offset + limit]],
                     "total": len(entries)}
        url = f"{_base(request)}/v1/{what}s/{obj.id}/consumers"
        if offset + limit < len(entries):
            doc["next"] = f"{url}?limit={limit}&offset={offset + limit}"
        if offset > 0:
            doc["previous"] = f"{url}?limit={limit}&offset={max(0, offset - limit)}"
        return doc

    @router.post(path)
    @router.post(f"{path}/", include_in_schema=False)
    @_guard
    async def create_consumer(ref_id: str, request: Request,
                              session: Session = Depends(deps.db),
                              ctx: auth.Context = Depends(auth.context)):
        obj = _get_or_404(session, ctx, what, ref_id)
        service, resource_type, resource_id = await _consumer_body(request, what)
        consumers.register(session, what, obj.id, _project(ctx), service, resource_type,
                           resource_id)
        return JSONResponse(render(request, obj, _used_by(session, what, obj)),
                            headers={"Location": f"{_base(request)}/v1/{what}s/{obj.id}"
                                                 "/consumers"})

    @router.delete(path)
    @router.delete(f"{path}/", include_in_schema=False)
    @_guard
    async def delete_consumer(ref_id: str, request: Request,
                              session: Session = Depends(deps.db),
                              ctx: auth.Context = Depends(auth.context)):
        obj = _get_or_404(session, ctx, what, ref_id)
        service, resource_type, resource_id = await _consumer_body(request, what)
        if not consumers.unregister(session, what, obj.id, service, resource_type,
                                    resource_id):
            ours = [e for e in _used_by(session, what, obj) if e.ours and e.service == service
                    and (resource_id in (e.resource_id, _consumer_url(request, e)))
                    and resource_type in (None, e.resource_type)]
            if ours:
                raise KMError(409, f"The consumer is the load balancer's {ours[0].describe()}:"
                              " it goes when that object no longer references this "
                              f"{what} or is deleted.")
            raise KMError(404, "Consumer not found.")
        session.commit()
        return render(request, obj, _used_by(session, what, obj))


_consumer_routes(consumers.SECRET)
_consumer_routes(consumers.CONTAINER)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
def not_found(rest: str):
    """Unknown paths answer in Barbican's shape too (barbicanclient reads `title`)."""
    return _error(404, "The resource could not be found.")

"""List endpoints: filters, tag filters, sorting, pagination links and field selection (§6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from oslo_utils import strutils
from sqlalchemy import select
from sqlalchemy.orm import Session

from octolb.api.errors import BadRequest
from octolb.config import CONF

RESERVED = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
TAG_PARAMS = {"tags", "tags-any", "not-tags", "not-tags-any"}
INVALID_FILTER = "One or more arguments are either duplicate or invalid"


def _coerce(column, value: str):
    py = getattr(column.type, "python_type", str)
    if py is bool:
        return strutils.bool_from_string(value)
    if py is int:
        try:
            return int(value)
        except ValueError:
            raise BadRequest(INVALID_FILTER) from None
    return value


def _tags(request: Request) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key in TAG_PARAMS:
        vals = request.query_params.getlist(key)
        if vals:
            out[key] = {t for v in vals for t in v.split(",") if t}
    return out


def _tag_match(tags: list[str], want: dict[str, set[str]]) -> bool:
    have = set(tags or [])
    if "tags" in want and not want["tags"] <= have:
        return False
    if "tags-any" in want and not want["tags-any"] & have:
        return False
    if "not-tags" in want and want["not-tags"] <= have:
        return False
    return not ("not-tags-any" in want and want["not-tags-any"] & have)


def _sort_spec(request: Request) -> list[tuple[str, str]]:
    q = request.query_params
    spec: list[tuple[str, str]] = []
    if q.get("sort"):
        for part in q["sort"].split(","):
            bits = part.split(":")
            if len(bits) > 2:
                raise BadRequest(f"Supplied sort key '{bits}' is not valid.")
            spec.append((bits[0].strip(), (bits[1] if len(bits) == 2 else "asc").strip().lower()))
    elif q.get("sort_key"):
        keys = q["sort_key"].split(",")
        dirs = q.get("sort_dir", "").split(",") if q.get("sort_dir") else []
        for i, k in enumerate(keys):
            spec.append((k.strip(), (dirs[i] if i < len(dirs) else "asc").strip().lower()))
    for _k, d in spec:
        if d not in ("asc", "desc"):
            raise BadRequest(f"Supplied sort direction '{d}' is not valid.")
    return spec


def _limit(request: Request) -> int | None:
    max_limit = CONF.api_settings.pagination_max_limit
    raw = request.query_params.get("limit")
    if raw is None:
        return max_limit
    if raw == "infinite":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"Supplied pagination limit '{raw}' is not valid.") from None
    if n <= 0:
        return None
    return min(n, max_limit) if max_limit and max_limit > 0 else n


def select_fields(doc: dict, request: Request) -> dict:
    fields = [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]
    if not fields:
        return doc
    return {k: v for k, v in doc.items() if k in fields}


def list_resources(
    request: Request,
    session: Session,
    model,
    *,
    plural: str,
    columns: dict[str, Any],
    render: Callable[[Any], dict],
    where: list | None = None,
    visible: Callable[[Any], bool] | None = None,
    id_attr: str = "id",
) -> dict:
    """`columns` maps API names to ORM columns (filterable and sortable keys); `id_attr` is the
    attribute that identifies a row (the pagination marker, the last sort tie-breaker)."""
    stmt = select(model)
    for cond in where or []:
        stmt = stmt.where(cond)
    for key in request.query_params.keys():
        if key in RESERVED or key in TAG_PARAMS:
            continue
        values = request.query_params.getlist(key)
        if key not in columns or len(values) != 1:
            raise BadRequest(INVALID_FILTER)
        col = columns[key]
        stmt = stmt.where(col == _coerce(col, values[0]))
    order = []
    requested = _sort_spec(request)
    for key, direction in requested:
        if key not in columns:
            raise BadRequest(f"Supplied sort key '{key}' is not valid.")
        col = columns[key]
        order.append(col.desc() if direction == "desc" else col.asc())
    names = [k for k, _ in requested]
    for tie in ("created_at", id_attr):
        if tie in columns and tie not in names:
            order.append(columns[tie].asc())
    rows = list(session.scalars(stmt.order_by(*order)).unique())
    if visible is not None:
        rows = [r for r in rows if visible(r)]
    tags = _tags(request)
    if tags:
        rows = [r for r in rows if _tag_match(getattr(r, "tags", []), tags)]

    marker = request.query_params.get("marker")
    if marker:
        pos = next((i for i, r in enumerate(rows) if getattr(r, id_attr) == marker), None)
        if pos is None:
            raise BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
        if request.query_params.get("page_reverse") == "True":
            rows = rows[:pos]
        else:
            rows = rows[pos + 1:]
    limit = _limit(request)
    page = rows if limit is None else rows[:limit]

    links = []
    if page:
        base = (CONF.api_settings.api_base_uri.rstrip("/") + request.url.path
                if CONF.api_settings.api_base_uri else str(request.url.replace(query="")))
        extra = ""
        if request.query_params.get("sort"):
            extra += f"&sort={request.query_params['sort']}"
        if request.query_params.get("sort_key"):
            extra += f"&sort_key={request.query_params['sort_key']}"
        if limit is None or len(page) >= limit:
            mark = getattr(page[-1], id_attr)
            links.append({"href": f"{base}?limit={limit}{extra}&marker={mark}",
                          "rel": "next"})
        if marker:
            mark = getattr(page[0], id_attr)
            links.append({"href": f"{base}?limit={limit}{extra}&marker={mark}"
                                  "&page_reverse=True", "rel": "previous"})
    return {plural: [select_fields(render(r), request) for r in page],
            f"{plural}_links": links}

"""List endpoints: filters, tag filters, sorting, pagination links and field selection (§6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from oslo_utils import strutils
from sqlalchemy import and_, func, null, or_, select
from sqlalchemy.orm import Session, selectinload

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
            n = int(value)
        except ValueError:
            raise BadRequest(INVALID_FILTER) from None
        if not -2**63 <= n < 2**63:  # no column holds it (SQLite refuses to bind it)
            raise BadRequest(INVALID_FILTER)
        return n
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


def _sort_value(column, value):
    """Octavia compares NULLs as ''/0 when paging: the same stand-ins make the order and the
    keyset comparison agree on every database (SQLite sorts NULL first, PostgreSQL last)."""
    expr = getattr(column, "expression", column)
    if not getattr(expr, "nullable", False):
        return column if value is _COLUMN else value
    stand_in = {str: "", int: 0, bool: False}.get(getattr(column.type, "python_type", None))
    if stand_in is None:
        return column if value is _COLUMN else value
    if value is _COLUMN:
        return func.coalesce(column, stand_in)
    return stand_in if value is None else value


_COLUMN = object()


def _after(keys: list[tuple[Any, bool]], values: list[Any]):
    """Rows strictly after `values` in the order `keys` ((column, descending) pairs): the
    compound-key comparison, spelled out so that mixed directions work everywhere."""
    alternatives = []
    for i, (col, desc) in enumerate(keys):
        expr = _sort_value(col, _COLUMN)
        here = [(_sort_value(c, _COLUMN) == _sort_value(c, v))
                for (c, _d), v in zip(keys[:i], values[:i], strict=True)]
        bound = _sort_value(col, values[i])
        here.append(expr < bound if desc else expr > bound)
        alternatives.append(and_(*here))
    return or_(*alternatives)


def list_resources(
    request: Request,
    session: Session,
    model,
    *,
    plural: str,
    columns: dict[str, Any],
    render: Callable[[Any], dict],
    where: list | None = None,
    id_attr: str = "id",
) -> dict:
    """`columns` maps API names to ORM columns (filterable and sortable keys); `id_attr` is the
    attribute that identifies a row (the pagination marker, the last sort tie-breaker).

    Filters, order, marker and limit are SQL (keyset pagination: a page costs the same at the
    end of a long list as at its start), and every relationship is loaded in one query per
    page rather than one per row. Tag filters are matched in Python (tags are a JSON column),
    and then the page is cut in Python too."""
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
    keys: list[tuple[Any, bool]] = []
    requested = _sort_spec(request)
    for key, direction in requested:
        if key not in columns:
            raise BadRequest(f"Supplied sort key '{key}' is not valid.")
        keys.append((columns[key], direction == "desc"))
    names = [k for k, _ in requested]
    for tie in ("created_at", id_attr):
        if tie in columns and tie not in names:
            keys.append((columns[tie], False))
    id_col = columns.get(id_attr, getattr(model, id_attr))
    stmt = stmt.options(*(selectinload(getattr(model, rel.key))
                          for rel in model.__mapper__.relationships))

    marker = request.query_params.get("marker")
    reverse = bool(marker) and request.query_params.get("page_reverse") == "True"
    limit = _limit(request)
    tags = _tags(request)

    def ordered(stmt, backwards: bool):
        return stmt.order_by(*(
            (_sort_value(c, _COLUMN).asc() if desc == backwards else
             _sort_value(c, _COLUMN).desc()) for c, desc in keys))

    if tags:
        # ids and tags of every match, in order; only the page's rows are then loaded
        ids = [i for i, t in session.execute(
               ordered(stmt.with_only_columns(id_col, getattr(model, "tags", null())), False))
               if _tag_match(t, tags)]
        if marker:
            if marker not in ids:
                raise BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
            pos = ids.index(marker)
            ids = ids[:pos] if reverse else ids[pos + 1:]
        if limit is not None:
            ids = ids[-limit:] if reverse else ids[:limit]
        by_id = {getattr(r, id_attr): r
                 for r in session.scalars(stmt.where(id_col.in_(ids))).unique()} if ids else {}
        page = [by_id[i] for i in ids]
    else:
        if marker:
            mark_row = session.execute(
                stmt.with_only_columns(*(c for c, _d in keys)).where(id_col == marker)
                .order_by(None)).first()
            if mark_row is None:
                raise BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
            # before the marker = after it in the reversed order
            stmt = stmt.where(_after([(c, desc != reverse) for c, desc in keys],
                                     list(mark_row)))
        stmt = ordered(stmt, reverse)
        if limit is not None:
            stmt = stmt.limit(limit)
        page = list(session.scalars(stmt).unique())
        if reverse:
            page.reverse()

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

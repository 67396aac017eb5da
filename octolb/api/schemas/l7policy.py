"""L7 policy request bodies and representation."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, WithJsonSchema

from octolb import constants as c
from octolb.api.schemas import types as t
from octolb.api.schemas.common import ids, owned

# RFC 3986 URI characters; a `%` must start a percent-encoding (so no HAProxy `%[...]`).
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")


def _url(v: Any) -> str | None:
    """An absolute http(s) URL with a host: what Octavia's URLType accepts, minus what no
    valid URI contains (spaces, quotes, backslashes, control characters)."""
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > 255 or not _URI_CHARS.fullmatch(v):
        raise ValueError("Value must be a valid URL string")
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("Value must be a valid URL string") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("Value must be a valid URL string")
    return v


def _http_code(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v not in c.REDIRECT_HTTP_CODES:
        raise ValueError("Value should be one of: "
                         + ", ".join(str(code) for code in c.REDIRECT_HTTP_CODES))
    return v


URL = Annotated[str | None, BeforeValidator(_url),
                WithJsonSchema({"type": "string", "format": "uri", "maxLength": 255,
                                "pattern": "^https?://"})]
HTTPCode = Annotated[int | None, BeforeValidator(_http_code),
                     WithJsonSchema({"type": "integer", "enum": list(c.REDIRECT_HTTP_CODES)})]


class _L7PolicyCommon(t.Body):
    name: t.Name = None
    description: t.Name = None
    admin_state_up: t.Bool = True
    action: t.Enum(*c.L7POLICY_ACTIONS) = None
    redirect_pool_id: t.UUID = None
    redirect_url: URL = None
    redirect_prefix: URL = None
    redirect_http_code: HTTPCode = None
    position: t.Int(1, c.MAX_POLICY_POSITION) = None
    tags: t.Tags = None


class L7PolicyPOST(_L7PolicyCommon):
    listener_id: t.UUID
    action: t.Enum(*c.L7POLICY_ACTIONS)
    rules: list[dict] | None = None
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class L7PolicyPUT(_L7PolicyCommon):
    admin_state_up: t.Bool = None


def render(policy) -> dict:
    d = owned(policy)
    d.update({
        "description": policy.description or "",
        "action": policy.action,
        "listener_id": policy.listener_id,
        "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "redirect_http_code": policy.redirect_http_code,
        "position": policy.position,
        "rules": ids(r for r in policy.rules if r.provisioning_status != c.DELETED),
    })
    return d

"""Field types with Octavia's (WSME's) coercion rules and error texts.

Each validator raises ValueError with the *reason* part of WSME's message; api.schemas.parse
wraps it into `Invalid input for field/attribute <f>. Value: '<v>'. <reason>`.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Annotated, Any

from pydantic import BaseModel as _PydanticBase
from pydantic import BeforeValidator, ConfigDict, WithJsonSchema

from octolb.amphora.render.errors import RenderError
from octolb.amphora.render.values import reject_control

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}


class Body(_PydanticBase):
    """Base of request bodies: unknown attributes are refused (by parse, with WSME's text)."""

    model_config = ConfigDict(extra="forbid", validate_default=False)


def _bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    if isinstance(v, str):
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(f"Value not an unambiguous boolean: {v}")


def _has_control(v: str) -> bool:
    """The renderer's rule (C0/C1 controls, format characters, line and paragraph
    separators): what passes the API also renders."""
    try:
        reject_control(v, "value")
    except RenderError:
        return True
    return False


def _string(max_len: int = 255, min_len: int = 0, printable: bool = True):
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError("Value should be string")
        if len(v) > max_len:
            raise ValueError(f"Value should have a maximum character requirement of {max_len}")
        if len(v) < min_len:
            raise ValueError(f"Value should have a minimum character requirement of {min_len}")
        if printable and _has_control(v):
            # Octavia stores these; octolb refuses them (they have no business in a name and
            # must never reach a rendered file).
            raise ValueError("Value should not contain control characters (newline, tab, ...)")
        return v
    return check


def _int(minimum: int | None = None, maximum: int | None = None):
    def check(v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool):
            raise ValueError("Wrong type. Expected 'int', got 'bool'")
        if isinstance(v, float):
            v = int(v)
        elif isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                raise ValueError(f"Wrong type. Expected 'int', got '{v}'") from None
        elif not isinstance(v, int):
            raise ValueError(f"Wrong type. Expected 'int', got '{type(v).__name__}'")
        if minimum is not None and v < minimum:
            raise ValueError(f"Value should be greater or equal to {minimum}")
        if maximum is not None and v > maximum:
            raise ValueError(f"Value should be lower or equal to {maximum}")
        return v
    return check


def _uuid(v: Any) -> str | None:
    if v is None:
        return None
    try:
        return str(uuid.UUID(str(v)))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("Value should be UUID format") from None


def _ip(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or "%" in v:  # no IPv6 zone: HAProxy cannot use one
        raise ValueError("Value should be IPv4 or IPv6 format")
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 format") from None


def _enum(*values: str):
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or v not in values:
            raise ValueError(f"Value should be one of: {', '.join(values)}")
        return v
    return check


def _tags(v: Any) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise ValueError(f"Value not a valid list: {v}")
    for t in v:
        _string(255)(t)
    return v


def _float_enum(*values: float):
    def check(v: Any) -> float | None:
        if v is None:
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"Value should be one of: {', '.join(map(str, values))}") from None
        if isinstance(v, bool) or f not in values:
            raise ValueError(f"Value should be one of: {', '.join(map(str, values))}")
        return f
    return check


# What each type accepts, as JSON Schema: the request bodies of the served OpenAPI document
# (octolb.api.openapi) are the models' own `model_json_schema()`, so the document and the
# validation come from the same field declarations. The canonical JSON form is described;
# WSME's coercions (numeric strings, "yes"/"no" booleans) are accepted beyond it.
# C0/C1 controls, line/paragraph separators and the common format characters (the full
# rule, _has_control, refuses every Unicode category Cf character).
NO_CONTROL = ("^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u200b-\\u200f\\u2028-\\u202e"
              "\\u2060-\\u2064\\ufeff]*$")


def string_schema(max_len: int = 255, min_len: int = 0, printable: bool = True) -> dict:
    out: dict = {"type": "string", "maxLength": max_len}
    if min_len:
        out["minLength"] = min_len
    if printable:
        out["pattern"] = NO_CONTROL
    return out


def int_schema(minimum: int | None = None, maximum: int | None = None) -> dict:
    out: dict = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


UUID_SCHEMA = {"type": "string", "format": "uuid"}
IP_SCHEMA = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
TAGS_SCHEMA = {"type": "array", "items": string_schema(255)}

Bool = Annotated[bool | None, BeforeValidator(_bool), WithJsonSchema({"type": "boolean"})]
Name = Annotated[str | None, BeforeValidator(_string(255)), WithJsonSchema(string_schema(255))]
ProjectId = Annotated[str | None, BeforeValidator(_string(36)),
                      WithJsonSchema(string_schema(36))]
Ref = Annotated[str | None, BeforeValidator(_string(255)), WithJsonSchema(string_schema(255))]
UUID = Annotated[str | None, BeforeValidator(_uuid), WithJsonSchema(UUID_SCHEMA)]
IP = Annotated[str | None, BeforeValidator(_ip), WithJsonSchema(IP_SCHEMA)]
Port = Annotated[int | None, BeforeValidator(_int(1, 65535)),
                 WithJsonSchema(int_schema(1, 65535))]
Tags = Annotated[list[str] | None, BeforeValidator(_tags), WithJsonSchema(TAGS_SCHEMA)]


def Int(minimum: int | None = None, maximum: int | None = None):  # noqa: N802 - a type factory
    return Annotated[int | None, BeforeValidator(_int(minimum, maximum)),
                     WithJsonSchema(int_schema(minimum, maximum))]


def Enum(*values: str):  # noqa: N802
    return Annotated[str | None, BeforeValidator(_enum(*values)),
                     WithJsonSchema({"type": "string", "enum": list(values)})]


def String(max_len: int = 255, min_len: int = 0):  # noqa: N802
    return Annotated[str | None, BeforeValidator(_string(max_len, min_len)),
                     WithJsonSchema(string_schema(max_len, min_len))]


def FloatEnum(*values: float):  # noqa: N802
    return Annotated[float | None, BeforeValidator(_float_enum(*values)),
                     WithJsonSchema({"type": "number", "enum": list(values)})]


def AnyDict(schema: dict | None = None):  # noqa: N802
    """A JSON object; `schema` describes it more closely in the OpenAPI document (the routes
    validate its content themselves)."""
    def check(v: Any) -> dict | None:
        if v is None:
            return None
        if not isinstance(v, dict):
            raise ValueError(f"Value not a valid dict: {v}")
        return v
    return Annotated[dict | None, BeforeValidator(check),
                     WithJsonSchema(schema or {"type": "object"})]

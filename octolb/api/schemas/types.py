"""Field types with Octavia's (WSME's) coercion rules and error texts.

Each validator raises ValueError with the *reason* part of WSME's message; api.schemas.parse
wraps it into `Invalid input for field/attribute <f>. Value: '<v>'. <reason>`.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Annotated, Any

from pydantic import BaseModel as _PydanticBase
from pydantic import BeforeValidator, ConfigDict

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
        if printable and _CONTROL.search(v):
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


Bool = Annotated[bool | None, BeforeValidator(_bool)]
Name = Annotated[str | None, BeforeValidator(_string(255))]
ProjectId = Annotated[str | None, BeforeValidator(_string(36))]
Ref = Annotated[str | None, BeforeValidator(_string(255))]
UUID = Annotated[str | None, BeforeValidator(_uuid)]
IP = Annotated[str | None, BeforeValidator(_ip)]
Port = Annotated[int | None, BeforeValidator(_int(1, 65535))]
Tags = Annotated[list[str] | None, BeforeValidator(_tags)]


def Int(minimum: int | None = None, maximum: int | None = None):  # noqa: N802 - a type factory
    return Annotated[int | None, BeforeValidator(_int(minimum, maximum))]


def Enum(*values: str):  # noqa: N802
    return Annotated[str | None, BeforeValidator(_enum(*values))]


def String(max_len: int = 255, min_len: int = 0):  # noqa: N802
    return Annotated[str | None, BeforeValidator(_string(max_len, min_len))]


def FloatEnum(*values: float):  # noqa: N802
    return Annotated[float | None, BeforeValidator(_float_enum(*values))]


def AnyDict():  # noqa: N802
    def check(v: Any) -> dict | None:
        if v is None:
            return None
        if not isinstance(v, dict):
            raise ValueError(f"Value not a valid dict: {v}")
        return v
    return Annotated[dict | None, BeforeValidator(check)]

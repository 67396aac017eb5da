"""Request-body parsing with Octavia's envelope rules and WSME-style error texts."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from octolb.api.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def _shown(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "body"
    if err["type"] == "missing":
        return (f"Invalid input for field/attribute {field}. Value: 'None'. "
                "Mandatory field missing.")
    reason = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
    return f"Invalid input for field/attribute {field}. Value: '{_shown(err.get('input'))}'. " \
           f"{reason}"


def unknown_keys(model: type[BaseModel], data: dict) -> list[str]:
    return sorted(k for k in data if k not in model.model_fields)


def validate(model: type[M], data: dict, where: str) -> M:
    """Validate one object; `where` is the WSME argument path used in error texts."""
    if not isinstance(data, dict):
        raise BadRequest(f"Invalid input for field/attribute {where}. Value: '{_shown(data)}'. "
                         "Value not a valid dict")
    extra = unknown_keys(model, data)
    if extra:
        noun = "attribute" if len(extra) == 1 else "attributes"
        raise BadRequest(f"Unknown {noun} for argument {where}: {', '.join(extra)}")
    for name, info in model.model_fields.items():
        # a required field sent as null is as missing as an omitted one (WSME)
        if info.is_required() and name in data and data[name] is None:
            raise BadRequest(f"Invalid input for field/attribute {name}. Value: 'None'. "
                             "Mandatory field missing.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_message(exc)) from None


def parse_body(raw: bytes, wrapper: str, model: type[M], argname: str) -> M:
    """`{"<wrapper>": {...}}` → a validated model; everything else → 400 with a faultstring."""
    data = load_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("Invalid input: the request body must be a JSON object")
    extra = [k for k in data if k != wrapper]
    if extra:
        raise BadRequest(f"Unknown attribute for argument {argname}: {', '.join(sorted(extra))}")
    if wrapper not in data:
        raise BadRequest(f"Invalid input for field/attribute {wrapper}. Value: 'None'. "
                         "Mandatory field missing.")
    return validate(model, data[wrapper], f"{argname}.{wrapper}")


def load_json(raw: bytes):
    if not raw or not raw.strip():
        raise BadRequest("Invalid input: a request body is required")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid input: the request body is not valid JSON") from None


def sent(model: BaseModel) -> set[str]:
    """The fields the client actually sent (omitted ≠ null)."""
    return set(model.model_fields_set)

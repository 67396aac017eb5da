"""Flavor profile request bodies and representation (v2.6)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from octolb.api.schemas import types as t

# A JSON document: may be pretty-printed (newlines); its values are validated one by one by
# the provider (api/schemas/provider_data.py), never written anywhere as they are.
JSONText = Annotated[str | None, BeforeValidator(t._string(4096, printable=False))]


class FlavorProfilePOST(t.Body):
    name: t.Name
    provider_name: t.Name
    flavor_data: JSONText


class FlavorProfilePUT(t.Body):
    name: t.Name = None
    provider_name: t.Name = None
    flavor_data: JSONText = None


def render(fp) -> dict:
    return {"id": fp.id, "name": fp.name, "provider_name": fp.provider_name,
            "flavor_data": fp.flavor_data}

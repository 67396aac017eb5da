"""Flavor profile request bodies and representation (v2.6). The profile fields every kind of
provider profile has are here too (availability zone profiles add their own metadata)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator

from octolb.api.schemas import types as t

# A JSON document: may be pretty-printed (newlines); its values are validated one by one by
# the provider (api/schemas/provider_data.py), never written anywhere as they are.
JSONText = Annotated[str | None, BeforeValidator(t._string(4096, printable=False))]


class ProfilePOST(t.Body):
    """Every profile kind's fields; a kind adds its metadata field (after these)."""

    name: t.Name
    provider_name: t.Name


class ProfilePUT(t.Body):
    name: t.Name = None
    provider_name: t.Name = None


class FlavorProfilePOST(ProfilePOST):
    flavor_data: JSONText


class FlavorProfilePUT(ProfilePUT):
    flavor_data: JSONText = None


def profile_renderer(data_field: str) -> Callable[[Any], dict]:
    """The representation of a profile kind whose metadata is `data_field`."""
    def render(profile) -> dict:
        return {"id": profile.id, "name": profile.name, "provider_name": profile.provider_name,
                data_field: getattr(profile, data_field)}
    return render


render = profile_renderer("flavor_data")

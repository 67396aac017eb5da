"""What the octolb amphora provider accepts in flavor and availability-zone profiles.

Each published capability takes effect: the worker reads them back through
`octolb.db.flavors`. A profile is refused at the API (501, as Octavia's providers answer an
option they do not support) when it names anything else or a value the provider cannot
build, so a bad profile never reaches a load balancer or a rendered file.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from typing import Any

from octolb import constants as c
from octolb.amphora.render.limits import MAX_GLOBAL_MAXCONN, MAX_THREADS
from octolb.api.errors import InvalidOption, NotImplementedByProvider
from octolb.db import flavors as f

MAX_NBTHREAD = MAX_THREADS
MAX_MAXCONN = MAX_GLOBAL_MAXCONN
AMPHORA_PROVIDERS = ("amphora", "octavia")

FLAVOR_CAPABILITIES = [
    {"name": f.TOPOLOGY,
     "description": "The load balancer topology. One of: SINGLE - One amphora per load "
                    "balancer. (ACTIVE_STANDBY is not available yet.)"},
    {"name": f.HAPROXY_MAXCONN,
     "description": "octolb: the most concurrent connections the load balancer's HAProxy "
                    f"accepts over all its listeners (global maxconn), 1 to {MAX_MAXCONN}."},
    {"name": f.HAPROXY_NBTHREAD,
     "description": "octolb: the number of HAProxy threads of the load balancer's amphora "
                    f"(nbthread), 1 to {MAX_NBTHREAD}. Default 1."},
]
AZ_CAPABILITIES = [
    {"name": f.VALID_VIP_NETWORKS,
     "description": "List of network IDs allowed for the VIPs of load balancers in this "
                    "zone; a VIP on any other network is refused."},
    {"name": f.MANAGEMENT_CIDR,
     "description": "octolb: the IPv4 CIDR inside 127.0.0.0/8 from which the amphorae of "
                    "this zone take their management addresses."},
]


def same_driver(a: str, b: str) -> bool:
    """`octavia` is an alias of the amphora driver."""
    return a == b or (a in AMPHORA_PROVIDERS and b in AMPHORA_PROVIDERS)


class _Unsupported(Exception):
    """A value the provider refuses; the message says why."""


def _topology(value: Any) -> None:
    if value == c.TOPOLOGY_ACTIVE_STANDBY:
        raise _Unsupported(f"{f.TOPOLOGY} ACTIVE_STANDBY is not available yet; this provider "
                           "builds SINGLE load balancers only.")
    if value != c.TOPOLOGY_SINGLE:
        raise _Unsupported(f"{f.TOPOLOGY} must be one of SINGLE, ACTIVE_STANDBY, not "
                           f"{json.dumps(value)}.")


def _int_between(lo: int, hi: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Unsupported(f"{name} must be an integer from {lo} to {hi}, not "
                               f"{json.dumps(value)}.")
    return check


def _network_ids(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise _Unsupported(f"{name} must be a list of network IDs.")
    for item in value:
        try:
            ok = isinstance(item, str) and str(uuid.UUID(item)) == item.lower()
        except ValueError:
            ok = False
        if not ok:
            raise _Unsupported(f"{name}: {json.dumps(item)} is not a network ID.")


def _loopback_cidr(name: str, value: Any) -> None:
    try:
        net = ipaddress.IPv4Network(value) if isinstance(value, str) else None
    except ValueError:
        net = None
    if net is None:
        raise _Unsupported(f"{name} must be an IPv4 CIDR such as 127.3.0.0/24, not "
                           f"{json.dumps(value)}.")
    if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")) or net.prefixlen > 29:
        raise _Unsupported(f"{name} must lie inside 127.0.0.0/8 (amphorae run on this "
                           "machine's loopback) and hold at least 6 addresses.")


_FLAVOR_CHECKS: dict[str, Callable[[str, Any], None]] = {
    f.TOPOLOGY: lambda _name, value: _topology(value),
    f.HAPROXY_MAXCONN: _int_between(1, MAX_MAXCONN),
    f.HAPROXY_NBTHREAD: _int_between(1, MAX_NBTHREAD),
}
_AZ_CHECKS: dict[str, Callable[[str, Any], None]] = {
    f.VALID_VIP_NETWORKS: _network_ids,
    f.MANAGEMENT_CIDR: _loopback_cidr,
}


def _parse(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidOption(text, option) from None


def _validate(provider: str, data: Any, checks: dict, what: str) -> None:
    if provider not in AMPHORA_PROVIDERS:
        checks = {}  # another enabled provider: octolb knows none of its capabilities
    try:
        if not isinstance(data, dict):
            raise _Unsupported(f"{what} must be a JSON object.")
        for key, value in data.items():
            if key not in checks:
                known = ", ".join(checks) or "none"
                raise _Unsupported(f"{key!r} is not a {what} capability of this provider "
                                   f"(its capabilities: {known}).")
            checks[key](key, value)
    except _Unsupported as exc:
        raise NotImplementedByProvider(str(exc), provider) from None


def validate_flavor_data(provider: str, text: str) -> dict:
    """The parsed flavor_data; 400 when it is not JSON, 501 when the provider refuses it."""
    data = _parse(text, "flavor_data")
    _validate(provider, data, _FLAVOR_CHECKS, "flavor")
    return data


def validate_availability_zone_data(provider: str, text: str) -> dict:
    data = _parse(text, "availability_zone_data")
    _validate(provider, data, _AZ_CHECKS, "availability zone")
    return data

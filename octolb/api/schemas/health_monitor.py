"""Health monitor request bodies and representation."""

from __future__ import annotations

from octolb import constants as c
from octolb.api.schemas import types as t
from octolb.api.schemas.common import owned

# Octavia accepts 0 for delay and timeout, which HAProxy cannot run (`inter 0s`); octolb
# refuses it at the API rather than failing the load balancer later.
Seconds = t.Int(1, 86400)


class _HMCommon(t.Body):
    name: t.Name = None
    delay: Seconds = None
    timeout: Seconds = None
    max_retries: t.Int(1, 10) = None
    max_retries_down: t.Int(1, 10) = None
    http_method: t.Enum(*c.HTTP_METHODS) = None
    url_path: t.String(2048, 1) = None
    expected_codes: t.String(64) = None
    http_version: t.FloatEnum(1.0, 1.1) = None
    domain_name: t.String(255, 1) = None
    admin_state_up: t.Bool = True
    tags: t.Tags = None


class HealthMonitorPOST(_HMCommon):
    pool_id: t.UUID
    type: t.Enum(*c.HM_TYPES)
    delay: Seconds
    timeout: Seconds
    max_retries: t.Int(1, 10)
    project_id: t.ProjectId = None
    tenant_id: t.ProjectId = None


class HealthMonitorPUT(_HMCommon):
    admin_state_up: t.Bool = None


def render(hm) -> dict:
    d = owned(hm)
    d.pop("description", None)
    d.update({
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.rise_threshold,
        "max_retries_down": hm.fall_threshold,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "http_version": hm.http_version,
        "domain_name": hm.domain_name,
        "pools": [{"id": hm.pool_id}],
    })
    return d

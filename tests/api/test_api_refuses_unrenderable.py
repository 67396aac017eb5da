"""What the API accepts, the renderer renders: values the renderer refuses are a 400 at the
API (not an object in ERROR later, which would also block every further change to its load
balancer), and none is a 500. Where a value did get through, the worker's own render path
(tls_material.build + render_haproxy_config, as reconcile does) shows why it matters."""

from __future__ import annotations

import uuid

import pytest

from octolb.amphora.render import render_haproxy_config
from octolb.controller import tls_material
from octolb.db import session as dbs
from octolb.db.models import LoadBalancer
from tests.api.conftest import settle
from tests.api.test_listener_tls import pki, refs, secret  # noqa: F401,F811 - fixtures


def render(lb_id: str) -> str:
    with dbs.transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        base = "/nonexistent/amphora"  # only rendered into paths, never touched
        tls_files, pool_files, _ = tls_material.build(s, lb, base)
        return render_haproxy_config(lb, amphora_id=str(uuid.uuid4()), base_path=base,
                                     tls_files=tls_files, pool_tls_files=pool_files)


def test_hsts_max_age_above_int32_is_refused_by_api(api, lb, refs):  # noqa: F811
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": refs["www"], "hsts_max_age": 2**31}})
    if r.status_code == 201:
        settle(lb)
        render(lb)  # RenderError: hsts_max_age must be between 0 and 2147483647
    assert r.status_code == 400, r.text


def test_hsts_max_age_huge_is_400_not_500(api, lb, refs):  # noqa: F811
    try:
        r = api.post("/v2/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": refs["www"], "hsts_max_age": 2**64}})
    except OverflowError as exc:  # what the TestClient re-raises; a client sees a 500
        pytest.fail(f"500: {exc}")
    assert r.status_code == 400, r.text


def test_domain_name_with_trailing_dots_is_refused_by_api(api, lb, pool):
    r = api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3,
        "http_version": 1.1, "domain_name": "example.com.."}})
    if r.status_code == 201:
        settle(lb)
        render(lb)  # RenderError: health monitor domain_name is not a host name
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("value", ["a\u2028b", "a\x85b", "a\u200bb"])
def test_l7_rule_value_with_unicode_separator_is_refused_by_api(api, lb, listener, value):
    r = api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": listener, "action": "REJECT"}})
    assert r.status_code == 201, r.text
    settle(lb)
    policy = r.json()["l7policy"]["id"]
    r = api.post(f"/v2/lbaas/l7policies/{policy}/rules", json={"rule": {
        "type": "PATH", "compare_type": "REGEX", "value": value}})
    if r.status_code == 201:
        settle(lb)
        render(lb)  # RenderError: ... contains a control character
    assert r.status_code == 400, r.text


def test_integer_filter_overflow_is_400_not_500(api, listener):
    try:
        r = api.get("/v2/lbaas/listeners?protocol_port=99999999999999999999999")
    except OverflowError as exc:
        pytest.fail(f"500: {exc}")
    assert r.status_code in (200, 400)

"""Golden files: the whole rendered HAProxy configuration of a few representative load
balancers, byte for byte. A change to the renderer shows up here as a diff to review; when
it is intended, regenerate with `OCTOLB_UPDATE_GOLDEN=1 pytest tests/unit/test_render_golden.py`
and commit the new files with the change. Every golden configuration also passes
`haproxy -c` without a warning."""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

import pytest

from octolb import constants as c
from octolb.amphora.render import render_haproxy_config
from tests.unit.test_render import (
    add_hm,
    add_listener,
    add_member,
    add_pool,
    base_path,  # noqa: F401 - fixture
    haproxy_check,
    make_lb,
)
from tests.unit.test_render_l7 import add_policy, add_rule

GOLDEN = Path(__file__).parent / "golden"
AMP_ID = "00000000-0000-4000-8000-00000000a001"
BASE = "/var/lib/octolb/amphorae/00000000-0000-4000-8000-00000000a001"


def ids():
    counter = itertools.count(1)
    return lambda: str(uuid.UUID(int=next(counter)))


def quickstart():
    n = ids()
    lb = make_lb(id=n(), vip_address="127.1.0.10")
    lis = add_listener(lb, id=n())
    pool = add_pool(lb, lis, id=n())
    add_hm(pool, id=n(), delay=2, timeout=1, url_path="/healthcheck")
    add_member(pool, id=n(), ip_address="127.0.0.1", protocol_port=8081)
    add_member(pool, id=n(), ip_address="127.0.0.1", protocol_port=8082)
    return lb


def tcp_source_ip():
    n = ids()
    lb = make_lb(id=n(), vip_address="127.1.0.11")
    lis = add_listener(lb, id=n(), protocol=c.TCP, protocol_port=5432, connection_limit=300,
                       timeout_client_data=120000, timeout_member_data=120000)
    pool = add_pool(lb, lis, id=n(), protocol=c.TCP, lb_algorithm=c.SOURCE_IP,
                    session_persistence={"type": c.SOURCE_IP})
    add_hm(pool, id=n(), type=c.HM_TCP, delay=3, timeout=2, fall_threshold=2)
    add_member(pool, id=n(), ip_address="127.0.0.21", protocol_port=5432, weight=10)
    add_member(pool, id=n(), ip_address="127.0.0.22", protocol_port=5432, weight=0)
    add_member(pool, id=n(), ip_address="127.0.0.23", protocol_port=5432, backup=True)
    add_member(pool, id=n(), ip_address="127.0.0.24", protocol_port=5432, enabled=False)
    return lb


def http_options():
    n = ids()
    lb = make_lb(id=n(), vip_address="127.1.0.12")
    lis = add_listener(lb, id=n(), connection_limit=1000, allowed_cidrs=["127.9.0.0/16"],
                       insert_headers={"X-Forwarded-For": "true", "X-Forwarded-Port": "true",
                                       "X-Forwarded-Proto": "true"})
    pool = add_pool(lb, lis, id=n(), lb_algorithm=c.LEAST_CONNECTIONS,
                    session_persistence={"type": c.HTTP_COOKIE})
    add_hm(pool, id=n(), http_method="HEAD", url_path="/status", expected_codes="200-204",
           http_version=1.1, domain_name="app.example")
    add_member(pool, id=n(), ip_address="127.0.0.31", protocol_port=80, monitor_port=8080)
    proxy_lis = add_listener(lb, id=n(), protocol=c.TCP, protocol_port=81)
    proxy_pool = add_pool(lb, proxy_lis, id=n(), protocol=c.PROXYV2)
    add_hm(proxy_pool, id=n(), type=c.HM_PING, http_method=None, url_path=None,
           expected_codes=None)
    add_member(proxy_pool, id=n(), ip_address="127.0.0.32", protocol_port=80)
    return lb


def l7():
    n = ids()
    lb = make_lb(id=n(), vip_address="127.1.0.13")
    lis = add_listener(lb, id=n())
    web = add_pool(lb, lis, id=n())
    add_member(web, id=n(), ip_address="127.0.0.41", protocol_port=80)
    api = add_pool(lb, None, id=n())
    add_member(api, id=n(), ip_address="127.0.0.42", protocol_port=80)
    to_api = add_policy(lis, c.REDIRECT_TO_POOL, id=n(), redirect_pool=api)
    add_rule(to_api, id=n(), type_=c.L7RULE_PATH, compare=c.STARTS_WITH, value="/api")
    add_rule(to_api, id=n(), type_=c.L7RULE_HEADER, compare=c.EQUAL_TO, key="X-Api",
             value="yes")
    reject = add_policy(lis, c.REJECT, id=n())
    add_rule(reject, id=n(), type_=c.L7RULE_FILE_TYPE, compare=c.EQUAL_TO, value="php")
    https = add_policy(lis, c.REDIRECT_PREFIX, id=n(), redirect_prefix="https://app.example",
                       redirect_http_code=301)
    add_rule(https, id=n(), type_=c.L7RULE_HOST_NAME, compare=c.ENDS_WITH,
             value=".example", invert=True)
    return lb


CASES = {"quickstart": quickstart, "tcp_source_ip": tcp_source_ip,
         "http_options": http_options, "l7": l7}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_configuration_matches_its_golden_file(name, base_path):  # noqa: F811
    text = render_haproxy_config(CASES[name](), amphora_id=AMP_ID, base_path=BASE,
                                 max_fds=20000)
    golden = GOLDEN / f"{name}.cfg"
    if os.environ.get("OCTOLB_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: run with OCTOLB_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), (
        f"{name}: the rendered configuration differs from {golden.name}; if intended, "
        "regenerate with OCTOLB_UPDATE_GOLDEN=1 and review the diff")
    # the same text, with its paths moved to a scratch directory, is valid HAProxy
    haproxy_check(text.replace(BASE, base_path), base_path)

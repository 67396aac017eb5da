"""Session persistence through real HAProxy: stickiness shown by which member answers."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.dataplane import (
    Cloud,
    HTTPBackend,
    answers,
    http_client,
    http_get,
    wait_serving,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture


def two_members(cloud: Cloud, backends: list, persistence: dict, cookie: str | None = None):
    a, b = HTTPBackend("a", cookie=cookie).start(), HTTPBackend("b", cookie=cookie).start()
    backends.extend([a, b])
    st = cloud.stack([a, b], pool_kw={"session_persistence": persistence})
    wait_serving(st.url)
    return st


def test_source_ip_persistence_keeps_each_client_address_on_one_member(cloud: Cloud,
                                                                       backends):
    st = two_members(cloud, backends, {"type": "SOURCE_IP"})
    first = {}
    for i in range(6):
        source = f"127.0.{40 + i}.9"
        seen = answers(st.url, 5, source=source)
        assert len(set(seen)) == 1, (source, seen)
        first[source] = seen[0]
    # the stick table pins whoever round robin chose first: both members are in use
    assert set(first.values()) == {"a", "b"}, first


def test_http_cookie_persistence_pins_a_client_by_the_srv_cookie(cloud: Cloud, backends):
    st = two_members(cloud, backends, {"type": "HTTP_COOKIE"})
    ids = {m["protocol_port"]: m["id"] for m in st.members}
    # without the cookie, requests alternate
    assert set(answers(st.url, 4)) == {"a", "b"}
    with http_client() as client:
        r = client.get(st.url)
        owner = r.text
        srv = r.cookies["SRV"]
        assert [client.get(st.url).text for _ in range(8)] == [owner] * 8
    by_name = {b.name: ids[b.port] for b in backends}
    assert srv == by_name[owner]  # the cookie names the member
    # a client presenting the other member's cookie is served by that member
    other = {"a": "b", "b": "a"}[owner]
    for _ in range(4):
        assert http_get(st.url, headers={"Cookie": f"SRV={by_name[other]}"}) == (200, other)


@pytest.mark.parametrize("cookie_name", ["JSESSIONID", "s#'id$HOME%41!|~`^&*+."])
def test_app_cookie_persistence_follows_the_application_cookie(cloud: Cloud, backends,
                                                              cookie_name):
    """The member sets `<cookie_name>=<its name>`; HAProxy learns the value from the
    response and sends later requests carrying it to that member. `#` and `'` are cookie
    token characters that are also HAProxy syntax: they must match literally."""
    st = two_members(cloud, backends, {"type": "APP_COOKIE", "cookie_name": cookie_name},
                     cookie=cookie_name)
    learned = set()
    for _ in range(4):  # learn both sessions (responses without a cookie alternate)
        r = httpx.get(st.url, timeout=10)
        assert r.headers["set-cookie"] == f"{cookie_name}={r.text}"
        learned.add(r.text)
    assert learned == {"a", "b"}
    for owner in ("a", "b"):
        for _ in range(5):
            assert http_get(st.url, headers={"Cookie": f"{cookie_name}={owner}"}) == (
                200, owner)
    # an unknown session value is balanced as usual
    seen = {http_get(st.url, headers={"Cookie": f"{cookie_name}=zz"})[1] for _ in range(4)}
    assert seen == {"a", "b"}

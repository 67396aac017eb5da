"""Health monitors through real HAProxy: each type marks a broken member down (ERROR, out
of rotation) and a healthy one up (ONLINE); what the checker sends is what the monitor
asked for, as recorded by the member; expected_codes decide what is healthy."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.dataplane import (
    Cloud,
    HTTPBackend,
    TCPBackend,
    answers,
    tcp_exchange,
    tls_get,
    wait_serving,
)
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import free_port, wait_until

HEALTH = "/health"


def wait_statuses(cloud: Cloud, st, expected: dict[int, str]) -> None:
    """Until every member (by index) shows its expected operating status at once."""
    def now():
        return {i: cloud.member_status(st.pool, st.members[i]) for i in expected}
    wait_until(lambda: now() == expected, 20, interval=0.1,
               what=f"member statuses {expected}")


def test_http_monitor_takes_a_failing_member_out_and_brings_it_back(cloud: Cloud, backends):
    good = HTTPBackend("good").start()
    bad = HTTPBackend("bad", status={HEALTH: 500}).start()
    backends.extend([good, bad])
    st = cloud.stack([good, bad])
    cloud.monitor(st.lb, st.pool, "HTTP", url_path=HEALTH)
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    assert set(answers(st.url, 6)) == {"good"}

    bad.status[HEALTH] = 200
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ONLINE"})
    assert set(answers(st.url, 6)) == {"good", "bad"}


@pytest.mark.parametrize(("options", "request_line"), [
    ({"http_method": "HEAD", "url_path": "/status/deep?probe=1", "http_version": 1.1,
      "domain_name": "app.example.com"},
     ("HEAD", "/status/deep?probe=1", "HTTP/1.1", "app.example.com")),
    ({"http_method": "OPTIONS", "url_path": "/ping"}, ("OPTIONS", "/ping", "HTTP/1.0", None)),
    ({"http_method": "POST", "http_version": 1.1}, ("POST", "/", "HTTP/1.1", None)),
    ({}, ("GET", "/", "HTTP/1.0", None)),  # Octavia's defaults
], ids=["HEAD-1.1-host", "OPTIONS-1.0", "POST-1.1-no-host", "defaults"])
def test_http_monitor_sends_the_configured_request(cloud: Cloud, backends, options,
                                                   request_line):
    member = HTTPBackend("m").start()
    backends.append(member)
    st = cloud.stack([member])
    cloud.monitor(st.lb, st.pool, "HTTP", **options)
    method, path, version, host = request_line
    wait_until(lambda: member.requests(path), 20, what="a health check")
    check = member.requests(path)[0]
    assert (check.method, check.path, check.version) == (method, path, version)
    assert check.headers.get("host") == host
    cloud.wait_member_status(st.pool, st.members[0], "ONLINE")


@pytest.mark.parametrize(("expected_codes", "healthy", "sick"), [
    ("202", [202], [200]),
    ("200, 418", [200, 418], [201]),
    ("201-204", [201, 204], [200, 205]),
], ids=["single", "list", "range"])
def test_expected_codes_decide_which_answers_are_healthy(cloud: Cloud, backends,
                                                         expected_codes, healthy, sick):
    codes = healthy + sick
    bs = [HTTPBackend(f"code-{code}", status={HEALTH: code}).start() for code in codes]
    backends.extend(bs)
    st = cloud.stack(bs)
    cloud.monitor(st.lb, st.pool, "HTTP", url_path=HEALTH, expected_codes=expected_codes)
    wait_statuses(cloud, st, {i: "ONLINE" if code in healthy else "ERROR"
                              for i, code in enumerate(codes)})
    assert set(answers(st.url, 2 * len(codes))) == {f"code-{code}" for code in healthy}


def test_https_monitor_speaks_http_over_tls_to_the_member(cloud: Cloud, backends):
    secure = HTTPBackend("secure", tls=True).start()
    plain = HTTPBackend("plain").start()  # answers HTTP, but not over TLS
    backends.extend([secure, plain])
    st = cloud.stack([secure, plain], protocol="HTTPS")
    cloud.monitor(st.lb, st.pool, "HTTPS", url_path=HEALTH)
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    assert secure.requests(HEALTH) and not plain.requests(HEALTH)
    assert {tls_get(st.vip, 80)[0] for _ in range(4)} == {"secure"}

    secure.status[HEALTH] = 503  # TLS still fine, the HTTP answer is not
    wait_statuses(cloud, st, {0: "ERROR"})


def test_tcp_monitor_follows_whether_the_member_accepts_connections(cloud: Cloud, backends):
    live = TCPBackend("live").start()
    later = TCPBackend("later")  # not started: its port refuses connections
    backends.extend([live, later])
    st = cloud.stack([live, later], protocol="TCP")
    cloud.monitor(st.lb, st.pool, "TCP")
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    assert {tcp_exchange(st.vip, 80) for _ in range(4)} == {"live"}

    later.start()
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ONLINE"})
    assert {tcp_exchange(st.vip, 80) for _ in range(6)} == {"live", "later"}


def test_tls_hello_monitor_wants_a_tls_handshake_not_just_a_connection(cloud: Cloud,
                                                                       backends):
    tls = HTTPBackend("tls", tls=True).start()
    raw = TCPBackend("raw").start()  # accepts connections but speaks no TLS
    backends.extend([tls, raw])
    st = cloud.stack([tls, raw], protocol="HTTPS")
    cloud.monitor(st.lb, st.pool, "TLS-HELLO")
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    assert not tls.requests()  # the checks sent no HTTP request
    assert {tls_get(st.vip, 80)[0] for _ in range(4)} == {"tls"}

    tls.stop()
    wait_statuses(cloud, st, {0: "ERROR", 1: "ERROR"})
    backends.append(HTTPBackend("tls", port=tls.port, tls=True).start())
    wait_statuses(cloud, st, {0: "ONLINE"})


def test_monitor_address_and_port_are_checked_instead_of_the_member(cloud: Cloud, backends):
    """The member serves on 127.0.0.1:P and fails its own health URL; a separate probe on
    127.0.0.2:Q answers it. The member is ONLINE while the probe is, whatever P says."""
    member = HTTPBackend("served", status={HEALTH: 500}).start()
    probe = HTTPBackend("probe", host="127.0.0.2", port=free_port("127.0.0.2")).start()
    backends.extend([member, probe])
    st = cloud.stack([member], member_kw=[{"monitor_address": probe.host,
                                           "monitor_port": probe.port}])
    cloud.monitor(st.lb, st.pool, "HTTP", url_path=HEALTH)
    cloud.wait_member_status(st.pool, st.members[0], "ONLINE")
    wait_serving(st.url, {"served"})
    assert probe.requests(HEALTH) and not member.requests(HEALTH)

    probe.stop()
    cloud.wait_member_status(st.pool, st.members[0], "ERROR")
    # the member itself still answers, but HAProxy no longer sends to it
    assert httpx.get(f"http://{member.host}:{member.port}/", timeout=5).text == "served"
    assert httpx.get(st.url, timeout=10).status_code == 503


def test_monitor_timeout_fails_a_member_that_answers_too_late(cloud: Cloud, backends):
    prompt = HTTPBackend("prompt").start()
    late = HTTPBackend("late").start()
    late.slow_path, late.delay = HEALTH, 4  # the check's answer comes after 4 s
    backends.extend([prompt, late])
    st = cloud.stack([prompt, late])
    cloud.monitor(st.lb, st.pool, "HTTP", url_path=HEALTH, timeout=1, delay=2)
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    assert set(answers(st.url, 4)) == {"prompt"}


def test_disabled_monitor_stops_checking(cloud: Cloud, backends):
    """admin_state_up false on the monitor: no checks, members NO_MONITOR, and a member
    that fails its health URL is back in rotation (HAProxy no longer knows better)."""
    good = HTTPBackend("good").start()
    bad = HTTPBackend("bad", status={HEALTH: 500}).start()
    backends.extend([good, bad])
    st = cloud.stack([good, bad])
    hm = cloud.monitor(st.lb, st.pool, "HTTP", url_path=HEALTH)
    wait_statuses(cloud, st, {0: "ONLINE", 1: "ERROR"})
    cloud.update(st.lb["id"], f"healthmonitors/{hm['id']}", "healthmonitor",
                 {"admin_state_up": False})
    wait_statuses(cloud, st, {0: "NO_MONITOR", 1: "NO_MONITOR"})
    assert set(answers(st.url, 4)) == {"good", "bad"}

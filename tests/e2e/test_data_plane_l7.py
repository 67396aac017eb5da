"""L7 policies and rules through real HAProxy: every action, every HTTP rule type with the
compare types and `invert`, first match wins in position order, a disabled policy is not
applied. One load balancer carries all the policies (created up front), so most tests only
send requests; the last ones change it.

SSL_CONN_HAS_CERT / SSL_VERIFY_RESULT / SSL_DN_FIELD rules are accepted by the API and
rendered (tests/unit/test_render_l7.py) but their effect is not exercised here: they need
TLS-terminated listeners, which do not exist yet.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.dataplane import Cloud, HTTPBackend, Stack, wait_serving
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture

URL = "https://example.com/a%20b?x='1'#top"


@dataclass
class Answer:
    status: int
    location: str
    body: str


def ask(st: Stack, path: str = "/", host: str = "site.example",
        headers: dict[str, str] | None = None) -> Answer:
    """One request on a new connection, with the Host and headers given."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection((st.vip, 80), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    location = next((f.split(":", 1)[1].strip() for f in fields
                     if f.lower().startswith("location:")), "")
    return Answer(int(status_line.split()[1]), location, body.decode(errors="replace"))


def served_by(st: Stack, path: str = "/", **kw) -> str:
    answer = ask(st, path, **kw)
    assert answer.status == 200, answer
    return answer.body


@dataclass
class Site:
    cloud: Cloud
    st: Stack
    pools: dict[str, dict]
    policies: dict[str, dict]

    def policy(self, name: str, action: str, rules: list[dict], **kw) -> dict:
        """A policy with its rules in one create (one reconcile)."""
        lb_id = self.st.lb["id"]
        doc = self.cloud._create(lb_id, "l7policies", "l7policy", {
            "listener_id": self.st.listener["id"], "name": name, "action": action,
            "rules": rules, **kw})
        self.policies[name] = doc
        return doc


def rule(type_: str, compare: str, value: str, **kw) -> dict:
    return {"type": type_, "compare_type": compare, "value": value, **kw}


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Iterator[Site]:
    backends = {n: HTTPBackend(n).start() for n in ("default", "other", "third")}
    try:
        st = cloud.stack([backends["default"]])
        pools = {"default": st.pool}
        for name in ("other", "third"):
            pool = cloud._create(st.lb["id"], "pools", "pool", {
                "loadbalancer_id": st.lb["id"], "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN", "name": name})
            cloud.member(st.lb, pool, backends[name])
            pools[name] = pool
        s = Site(cloud, st, pools, {})
        s.policy("host-to-other", "REDIRECT_TO_POOL",
                 [rule("HOST_NAME", "EQUAL_TO", "other.example")],
                 redirect_pool_id=pools["other"]["id"])
        s.policy("deny-admin", "REJECT", [rule("PATH", "REGEX", "^/admin(/|$)")])
        s.policy("to-url", "REDIRECT_TO_URL", [rule("PATH", "EQUAL_TO", "/url")],
                 redirect_url=URL, redirect_http_code=301)
        s.policy("to-prefix", "REDIRECT_PREFIX", [rule("PATH", "STARTS_WITH", "/pre")],
                 redirect_prefix="https://prefix.example")
        s.policy("pdf", "REDIRECT_TO_URL", [rule("FILE_TYPE", "EQUAL_TO", "pdf")],
                 redirect_url="http://files.example/", redirect_http_code=303)
        s.policy("beta-header", "REDIRECT_TO_POOL",
                 [rule("HEADER", "CONTAINS", "beta", key="X-Version")],
                 redirect_pool_id=pools["third"]["id"])
        s.policy("blue-cookie", "REDIRECT_TO_POOL",
                 [rule("COOKIE", "EQUAL_TO", "blue", key="flavor")],
                 redirect_pool_id=pools["third"]["id"])
        s.policy("blocked-host", "REJECT",
                 [rule("HOST_NAME", "ENDS_WITH", ".blocked.example"),
                  rule("PATH", "STARTS_WITH", "/public", invert=True)])
        s.policy("disabled", "REJECT", [rule("PATH", "STARTS_WITH", "/disabled")],
                 admin_state_up=False)
        wait_serving(st.url, {"default"})
        yield s
    finally:
        for b in backends.values():
            b.stop()


def test_policies_and_rules_converge_active_and_online(site: Site):
    for name, doc in site.policies.items():
        got = site.cloud.get(f"l7policies/{doc['id']}")["l7policy"]
        want = "OFFLINE" if name == "disabled" else "ONLINE"
        assert (got["provisioning_status"], got["operating_status"]) == ("ACTIVE", want), name
        rules = site.cloud.get(f"l7policies/{doc['id']}/rules")["rules"]
        assert [r["id"] for r in rules] == [ref["id"] for ref in got["rules"]] != []
        for r in rules:
            assert (r["provisioning_status"], r["operating_status"]) == ("ACTIVE", "ONLINE")
    listener = site.cloud.get(f"listeners/{site.st.listener['id']}")["listener"]
    assert [p["id"] for p in listener["l7policies"]] == [
        d["id"] for d in site.policies.values()]


def test_unmatched_requests_use_the_default_pool(site: Site):
    assert served_by(site.st, "/") == "default"
    assert served_by(site.st, "/administrator") == "default"  # REGEX anchored on (/|$)


def test_redirect_to_pool_routes_to_the_other_pools_backend(site: Site):
    assert served_by(site.st, "/", host="other.example") == "other"
    assert served_by(site.st, "/", host="OTHER.example") == "other"  # host is case-blind
    assert served_by(site.st, "/", host="other.example.net") == "default"  # EQUAL_TO


def test_reject_answers_403(site: Site):
    assert ask(site.st, "/admin").status == 403
    assert ask(site.st, "/admin/users").status == 403


def test_redirect_to_url_answers_the_code_with_the_url(site: Site):
    a = ask(site.st, "/url")
    assert (a.status, a.location) == (301, URL)
    assert served_by(site.st, "/url/more") == "default"  # EQUAL_TO


def test_redirect_prefix_answers_the_prefix_plus_the_request_path(site: Site):
    a = ask(site.st, "/pre/page?x=1")
    assert (a.status, a.location) == (302, "https://prefix.example/pre/page?x=1")


def test_file_type_matches_the_end_of_the_path(site: Site):
    a = ask(site.st, "/docs/report.pdf")
    assert (a.status, a.location) == (303, "http://files.example/")
    assert served_by(site.st, "/docs/report.pdf.txt") == "default"


def test_header_and_cookie_rules_use_their_key(site: Site):
    assert served_by(site.st, headers={"X-Version": "2.0-beta1"}) == "third"  # CONTAINS
    assert served_by(site.st, headers={"X-Other": "beta"}) == "default"  # another header
    assert served_by(site.st, headers={"Cookie": "a=1; flavor=blue"}) == "third"
    assert served_by(site.st, headers={"Cookie": "flavor=bluegreen"}) == "default"
    assert served_by(site.st, headers={"Cookie": "taste=blue"}) == "default"


def test_rules_are_anded_and_invert_negates(site: Site):
    assert ask(site.st, "/private", host="www.blocked.example").status == 403
    assert served_by(site.st, "/public/x", host="www.blocked.example") == "default"
    assert served_by(site.st, "/private", host="www.blocked.example.org") == "default"


def test_first_matching_policy_wins(site: Site):
    # host-to-other (position 1, a pool) wins over deny-admin (2, REJECT) matching too...
    assert served_by(site.st, "/admin", host="other.example") == "other"
    # ...and deny-admin wins over beta-header (6, a pool)
    assert ask(site.st, "/admin", headers={"X-Version": "beta"}).status == 403
    # a redirect (3) before a pool policy (6)
    assert ask(site.st, "/url", headers={"X-Version": "beta"}).status == 301


def test_disabled_policy_is_not_applied(site: Site):
    assert served_by(site.st, "/disabled") == "default"


def test_moving_a_policy_changes_which_one_wins(site: Site):
    lb_id = site.st.lb["id"]
    pool_policy, reject = site.policies["host-to-other"], site.policies["deny-admin"]
    moved = site.cloud.update(lb_id, f"l7policies/{pool_policy['id']}", "l7policy",
                              {"position": 2})
    assert moved["position"] == 2
    assert site.cloud.get(f"l7policies/{reject['id']}")["l7policy"]["position"] == 1
    assert ask(site.st, "/admin", host="other.example").status == 403
    assert served_by(site.st, "/", host="other.example") == "other"


def test_enabling_and_disabling_policies_applies_at_once(site: Site):
    lb_id = site.st.lb["id"]
    site.cloud.update(lb_id, f"l7policies/{site.policies['disabled']['id']}", "l7policy",
                      {"admin_state_up": True})
    assert ask(site.st, "/disabled").status == 403
    site.cloud.update(lb_id, f"l7policies/{site.policies['deny-admin']['id']}", "l7policy",
                      {"admin_state_up": False})
    assert served_by(site.st, "/admin") == "default"
    assert served_by(site.st, "/admin", host="other.example") == "other"


def test_the_stock_cli_creates_a_working_policy_and_rule(site: Site):
    o = site.cloud.o
    policy = o.openstack("loadbalancer", "l7policy", "create", "--action", "REDIRECT_TO_URL",
                         "--redirect-url", "http://cli.example/", "--redirect-http-code",
                         "308", "--position", "1", "--wait", site.st.listener["id"])
    assert (policy["position"], policy["redirect_http_code"]) == (1, 308)
    rule = o.openstack("loadbalancer", "l7rule", "create", "--type", "HEADER", "--key",
                       "X-Cli", "--compare-type", "STARTS_WITH", "--value", "yes", "--wait",
                       policy["id"])
    assert (rule["type"], rule["key"], rule["invert"]) == ("HEADER", "X-Cli", False)
    a = ask(site.st, "/admin", headers={"X-Cli": "yes-please"})
    assert (a.status, a.location) == (308, "http://cli.example/")

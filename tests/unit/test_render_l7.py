"""L7 policies and rules in the rendered HAProxy configuration: the ACL and action lines
(Octavia's mapping, amphora-and-controller §9.8), what is left out, the backends of
redirect pools, first-match-wins order across actions, and escaping, each proven with
`haproxy -c`; the escaping of rule values and redirect targets also with a running
HAProxy answering requests."""

from __future__ import annotations

import socket
import uuid

import pytest

from octolb import constants as c
from octolb.amphora.render import RenderError, render_haproxy_config
from octolb.amphora.render.l7 import L7_VAR
from octolb.db import models as m
from tests.unit.test_render import (
    AMP_ID,
    add_listener,
    add_member,
    add_pool,
    free_port,
    http_lb,
    make_lb,
    render_checked,
    running_haproxy,
    section,
)
from tests.unit.test_render import base_path as base_path  # noqa: F401 - fixture


def new_id() -> str:
    return str(uuid.uuid4())


def add_policy(listener: m.Listener, action: str = c.REJECT, position: int | None = None,
               **kw) -> m.L7Policy:
    fields = dict(id=new_id(), action=action, enabled=True, provisioning_status=c.ACTIVE,
                  operating_status=c.ONLINE,
                  position=position or len(listener.l7policies) + 1)
    if action in (c.REDIRECT_TO_URL, c.REDIRECT_PREFIX):
        fields["redirect_http_code"] = 302
    fields.update(kw)
    policy = m.L7Policy(**fields)
    listener.l7policies.append(policy)
    return policy


def add_rule(policy: m.L7Policy, type_: str = c.L7RULE_PATH, compare: str = c.STARTS_WITH,
             value: str = "/api", **kw) -> m.L7Rule:
    fields = dict(id=new_id(), type=type_, compare_type=compare, value=value, invert=False,
                  enabled=True, provisioning_status=c.ACTIVE, operating_status=c.ONLINE)
    fields.update(kw)
    rule = m.L7Rule(**fields)
    policy.rules.append(rule)
    return rule


def frontend(text: str, listener: m.Listener) -> list[str]:
    return section(text, f"frontend {listener.id}")


def l7_lines(text: str, listener: m.Listener) -> list[str]:
    """The frontend's lines from the first ACL to the default_backend."""
    return [ln for ln in frontend(text, listener)
            if ln.startswith(("acl ", "http-request", "use_backend"))]


# --- rule types and compare types ---------------------------------------------------------

ACLS = [
    (dict(type_=c.L7RULE_HOST_NAME, compare=c.EQUAL_TO, value="www.example.com"),
     "req.hdr(host) -i -m str -- www.example.com"),
    (dict(type_=c.L7RULE_HOST_NAME, compare=c.REGEX, value=r"^a\.b$"),
     r"req.hdr(host) -i -m reg -- ^a\\.b$"),
    (dict(type_=c.L7RULE_PATH, compare=c.STARTS_WITH, value="/api"), "path -m beg -- /api"),
    (dict(type_=c.L7RULE_PATH, compare=c.ENDS_WITH, value=".php"), "path -m end -- .php"),
    (dict(type_=c.L7RULE_PATH, compare=c.CONTAINS, value="admin"), "path -m sub -- admin"),
    (dict(type_=c.L7RULE_FILE_TYPE, compare=c.EQUAL_TO, value="jpg"), "path_end -- jpg"),
    (dict(type_=c.L7RULE_FILE_TYPE, compare=c.REGEX, value=r"\.(png|gif)$"),
     r"path_end -m reg -- \\.(png|gif)$"),
    (dict(type_=c.L7RULE_HEADER, compare=c.CONTAINS, key="X-Env", value="prod"),
     "req.hdr(X-Env) -m sub -- prod"),
    (dict(type_=c.L7RULE_COOKIE, compare=c.EQUAL_TO, key="session", value="abc"),
     "req.cook(session) -m str -- abc"),
    (dict(type_=c.L7RULE_SSL_CONN_HAS_CERT, compare=c.EQUAL_TO, value="true"), "ssl_c_used"),
    (dict(type_=c.L7RULE_SSL_VERIFY_RESULT, compare=c.EQUAL_TO, value="0"),
     "ssl_c_verify eq 0"),
    (dict(type_=c.L7RULE_SSL_DN_FIELD, compare=c.STARTS_WITH, key="CN", value="web"),
     "ssl_c_s_dn(CN) -m beg -- web"),
]


@pytest.mark.parametrize(("rule", "criterion"), ACLS, ids=[a[1][:30] for a in ACLS])
def test_each_rule_type_renders_its_acl(base_path, rule, criterion):
    lb, listener, _pool, _member = http_lb()
    policy = add_policy(listener)
    r = add_rule(policy, **rule)
    text = render_checked(lb, base_path)
    assert l7_lines(text, listener) == [f"acl {r.id} {criterion}",
                                        f"http-request deny if {r.id}"]


def test_rules_of_a_policy_are_anded_and_invert_negates(base_path):
    lb, listener, *_ = http_lb()
    policy = add_policy(listener)
    a = add_rule(policy, value="/a")
    b = add_rule(policy, c.L7RULE_HEADER, c.EQUAL_TO, "1", key="X-Test", invert=True)
    text = render_checked(lb, base_path)
    assert f"http-request deny if {a.id} !{b.id}" in l7_lines(text, listener)


def test_policies_come_before_the_default_backend(base_path):
    lb, listener, pool, _ = http_lb()
    add_rule(add_policy(listener))
    fe = frontend(render_checked(lb, base_path), listener)
    deny = next(i for i, ln in enumerate(fe) if ln.startswith("http-request deny"))
    assert fe.index(f"default_backend {pool.id}:{listener.id}") > deny


# --- actions ------------------------------------------------------------------------------

def test_redirects_answer_the_code_with_location_or_prefix(base_path):
    lb, listener, *_ = http_lb()
    url = add_policy(listener, c.REDIRECT_TO_URL, redirect_url="https://example.com/new",
                     redirect_http_code=301)
    r1 = add_rule(url, value="/old")
    pre = add_policy(listener, c.REDIRECT_PREFIX, redirect_prefix="https://example.org",
                     redirect_http_code=308)
    r2 = add_rule(pre, value="/moved")
    lines = l7_lines(render_checked(lb, base_path), listener)
    assert f"http-request redirect location https://example.com/new code 301 if {r1.id}" in lines
    assert f"http-request redirect prefix https://example.org code 308 if {r2.id}" in lines


def test_redirect_to_pool_renders_the_pool_as_a_backend_of_the_listener(base_path):
    lb, listener, default_pool, _ = http_lb()
    other = add_pool(lb)
    add_member(other, ip_address="10.0.1.20")
    r = add_rule(add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other))
    text = render_checked(lb, base_path)
    assert l7_lines(text, listener)[-1] == f"use_backend {other.id}:{listener.id} if {r.id}"
    backend = section(text, f"backend {other.id}:{listener.id}")
    assert any(ln.startswith("server ") and "10.0.1.20:8080" in ln for ln in backend)
    assert f"backend {default_pool.id}:{listener.id}" in text


def test_a_pool_shared_by_default_and_policies_is_one_backend(base_path):
    lb, listener, pool, _ = http_lb()
    add_rule(add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=pool), value="/a")
    other = add_pool(lb)
    add_rule(add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other), value="/b")
    add_rule(add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other), value="/c")
    text = render_checked(lb, base_path)
    assert text.count(f"\nbackend {pool.id}:{listener.id}\n") == 1
    assert text.count(f"\nbackend {other.id}:{listener.id}\n") == 1
    assert sum(ln.startswith("use_backend") for ln in l7_lines(text, listener)) == 3


def test_pool_used_only_by_policies_of_two_listeners_is_rendered_under_each(base_path):
    lb = make_lb()
    one, two = add_listener(lb, protocol_port=80), add_listener(lb, protocol_port=81)
    shared = add_pool(lb)
    add_member(shared)
    add_rule(add_policy(one, c.REDIRECT_TO_POOL, redirect_pool=shared))
    add_rule(add_policy(two, c.REDIRECT_TO_POOL, redirect_pool=shared))
    text = render_checked(lb, base_path)
    assert f"backend {shared.id}:{one.id}" in text and f"backend {shared.id}:{two.id}" in text
    assert "default_backend" not in text


# --- what is left out ----------------------------------------------------------------------

@pytest.mark.parametrize("change", ["policy_disabled", "policy_deleting", "no_rules",
                                    "rule_disabled", "rule_deleting"])
def test_policies_without_an_active_enabled_rule_are_left_out(base_path, change):
    lb, listener, *_ = http_lb()
    policy = add_policy(listener)
    rule = add_rule(policy)
    if change == "policy_disabled":
        policy.enabled = False
    elif change == "policy_deleting":
        policy.provisioning_status = c.PENDING_DELETE
    elif change == "no_rules":
        policy.rules.remove(rule)
    elif change == "rule_disabled":
        rule.enabled = False
    else:
        rule.provisioning_status = c.PENDING_DELETE
    text = render_checked(lb, base_path)
    assert l7_lines(text, listener) == []
    assert rule.id not in text


def test_disabled_rule_is_dropped_from_its_policy(base_path):
    lb, listener, *_ = http_lb()
    policy = add_policy(listener)
    keep = add_rule(policy, value="/a")
    drop = add_rule(policy, value="/b", enabled=False)
    text = render_checked(lb, base_path)
    assert drop.id not in text
    assert f"http-request deny if {keep.id}" in l7_lines(text, listener)


def test_policy_to_a_disabled_pool_is_left_out(base_path):
    lb, listener, *_ = http_lb()
    other = add_pool(lb, enabled=False)
    add_rule(add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other))
    text = render_checked(lb, base_path)
    assert l7_lines(text, listener) == []
    assert other.id not in text


def test_tcp_listener_renders_no_l7(base_path):
    lb = make_lb()
    listener = add_listener(lb, protocol=c.TCP)
    add_pool(lb, listener, protocol=c.TCP)
    add_rule(add_policy(listener))
    assert "acl " not in render_checked(lb, base_path)


# --- order ------------------------------------------------------------------------------------

def test_policies_render_in_position_order(base_path):
    lb, listener, *_ = http_lb()
    third = add_policy(listener, position=3)
    first = add_policy(listener, position=1)
    second = add_policy(listener, c.REDIRECT_TO_URL, position=2,
                       redirect_url="http://example.com/")
    rules = [add_rule(p, value=f"/{i}") for i, p in enumerate((first, second, third))]
    lines = [ln for ln in l7_lines(render_checked(lb, base_path), listener)
             if ln.startswith("http-request")]
    assert [ln.rsplit(" ", 1)[1] for ln in lines] == [r.id for r in rules]


def test_pool_policy_before_a_reject_decides_in_the_http_request_phase(base_path):
    """HAProxy runs all http-request rules before use_backend; a REDIRECT_TO_POOL policy
    at position 1 must still win over a REJECT at position 2."""
    lb, listener, *_ = http_lb()
    other = add_pool(lb)
    to_pool = add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other)
    r1 = add_rule(to_pool, value="/a")
    r2 = add_rule(add_policy(listener), value="/")
    later_pool = add_policy(listener, c.REDIRECT_TO_POOL, redirect_pool=other)
    r3 = add_rule(later_pool, value="/b")
    lines = l7_lines(render_checked(lb, base_path), listener)
    guard = f"!{{ var({L7_VAR}) -m found }}"
    assert lines == [
        f"acl {r1.id} path -m beg -- /a",
        f"http-request set-var({L7_VAR}) str({to_pool.id}) if {r1.id}",
        f"acl {r2.id} path -m beg -- /",
        f"http-request deny if {guard} {r2.id}",
        f"use_backend {other.id}:{listener.id} if {{ var({L7_VAR}) -m str {to_pool.id} }}",
        f"acl {r3.id} path -m beg -- /b",
        f"use_backend {other.id}:{listener.id} if {r3.id}",
    ]


# --- escaping and refusals ------------------------------------------------------------------

def test_special_characters_are_escaped(base_path):
    lb, listener, *_ = http_lb()
    policy = add_policy(listener)
    r1 = add_rule(policy, c.L7RULE_HEADER, c.EQUAL_TO, "a#b'c\"d\\e", key="X-A'b#c")
    r2 = add_rule(policy, c.L7RULE_PATH, c.EQUAL_TO, '"/with space"')
    r3 = add_rule(policy, c.L7RULE_PATH, c.STARTS_WITH, "-i")
    lines = l7_lines(render_checked(lb, base_path), listener)
    assert f"acl {r1.id} req.hdr(X-A\\\\\\'b\\#c) -m str -- a\\#b\\'c\\\"d\\\\e" in lines
    assert f"acl {r2.id} path -m str -- /with\\ space" in lines
    assert f"acl {r3.id} path -m beg -- -i" in lines
    url = add_policy(listener, c.REDIRECT_TO_URL, redirect_url="http://x.example/a%20b'#f")
    add_rule(url)
    lines = l7_lines(render_checked(lb, base_path), listener)
    assert any("location http://x.example/a%%20b\\'\\#f code 302" in ln for ln in lines)


@pytest.mark.parametrize(("field", "value"), [
    ("value", "/a\nuse_backend evil"),
    ("value", "/a\rb"),
    ("value", ""),
    ("key", "X-A b"),
    ("key", "X,1"),
    ("key", "X)"),
])
def test_bad_rule_values_are_refused(field, value):
    lb, listener, *_ = http_lb()
    kw = {"key": "X-H", field: value} if field == "key" else {field: value}
    add_rule(add_policy(listener), c.L7RULE_HEADER, c.EQUAL_TO, **{"value": "v", **kw})
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize("url", ["http://x/a b", "http://x/%[src]", "http://x/\"",
                                 "javascript:alert(1)", "http://x/\nfrontend y"])
def test_bad_redirect_targets_are_refused(url):
    lb, listener, *_ = http_lb()
    add_rule(add_policy(listener, c.REDIRECT_TO_URL, redirect_url=url))
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


def test_invalid_regex_and_ids_are_refused():
    lb, listener, *_ = http_lb()
    add_rule(add_policy(listener), compare=c.REGEX, value="(")
    with pytest.raises(RenderError, match="regular expression"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")
    lb, listener, *_ = http_lb()
    add_rule(add_policy(listener), id="not-a-uuid")
    with pytest.raises(RenderError, match="UUID"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


# --- proven by a running HAProxy ----------------------------------------------------------------

def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, Location header or '') of one request to 127.0.0.1:port."""
    lines = [f"GET {path} HTTP/1.1", "Host: t", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    location = next((h.split(":", 1)[1].strip() for h in head[1:]
                     if h.lower().startswith("location:")), "")
    return int(head[0].split()[1]), location


def test_haproxy_matches_escaped_values_literally_and_redirects_verbatim(base_path):
    """Values full of HAProxy syntax match exactly themselves, and a redirect target with
    `%`, `'` and `#` reaches the client unchanged. No backend: anything unmatched is 503."""
    port = free_port()
    lb = make_lb(vip_address="127.0.0.1")
    listener = add_listener(lb, protocol_port=port)
    tricky = "a#b'c\"d\\e$HOME%[src]"
    add_rule(add_policy(listener), c.L7RULE_HEADER, c.EQUAL_TO, tricky, key="X-T#k'")
    add_rule(add_policy(listener), c.L7RULE_HEADER, c.EQUAL_TO, '"two words"', key="X-Q")
    add_rule(add_policy(listener), c.L7RULE_HEADER, c.STARTS_WITH, "-i", key="X-D")
    url = "https://example.com/a%20b?q='1'#frag"
    add_rule(add_policy(listener, c.REDIRECT_TO_URL, redirect_url=url, redirect_http_code=307),
             value="/go")
    add_rule(add_policy(listener, c.REDIRECT_PREFIX, redirect_prefix="http://p.example",
                        redirect_http_code=301), value="/pre")
    text = render_checked(lb, base_path, max_fds=4096)
    with running_haproxy(text, base_path, port) as proc:
        assert proc.poll() is None, proc.stdout.read()
        assert _get(port, "/", {"X-T#k'": tricky}) == (403, "")
        assert _get(port, "/", {"X-T#k'": tricky[:-1]}) == (503, "")
        assert _get(port, "/", {"X-T": tricky}) == (503, "")
        assert _get(port, "/", {"X-Q": "two words"}) == (403, "")  # quoted: the content
        assert _get(port, "/", {"X-Q": '"two words"'}) == (503, "")
        assert _get(port, "/", {"X-D": "-ix"}) == (403, "")  # a pattern, not a flag
        assert _get(port, "/", {"X-D": "-I"}) == (503, "")
        assert _get(port, "/go") == (307, url)
        assert _get(port, "/pre/x?y=1") == (301, "http://p.example/pre/x?y=1")
        assert _get(port, "/other") == (503, "")

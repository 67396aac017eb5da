"""L7 policies and rules through the API: fields and defaults, Octavia's action/argument
normalisation, position handling, the rule type x compare_type matrix, every 400/404/409,
and the lifecycle the worker completes (here its completion step, `settle`)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from octolb.controller.reconcile import _delete_lb_rows, _mark_failed
from octolb.db import session as dbs
from octolb.db.models import L7Policy, L7Rule, LoadBalancer
from tests.api.conftest import settle
from tests.api.test_bad_input import fault

P = "/v2/lbaas/l7policies"


def post_policy(api, listener, **kw):
    return api.post(P, json={"l7policy": {"listener_id": listener, **kw}})


def make_policy(api, lb, listener, **kw) -> dict:
    r = post_policy(api, listener, **{"action": "REJECT", **kw})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["l7policy"]


def make_rule(api, lb, policy_id, **kw) -> dict:
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **kw}
    r = api.post(f"{P}/{policy_id}/rules", json={"rule": body})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["rule"]


def show(api, policy_id) -> dict:
    r = api.get(f"{P}/{policy_id}")
    assert r.status_code == 200, r.text
    return r.json()["l7policy"]


def positions(api, listener) -> list[str]:
    lis = api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"]
    ids = [p["id"] for p in lis["l7policies"]]
    assert [show(api, i)["position"] for i in ids] == list(range(1, len(ids) + 1))
    return ids


@pytest.fixture
def other_pool(api, lb):
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["pool"]["id"]


# --- create, defaults, lifecycle -----------------------------------------------------------

def test_create_reject_policy_defaults_and_lifecycle(api, lb, listener):
    r = post_policy(api, listener, action="REJECT", name="deny", tags=["t1"])
    assert r.status_code == 201, r.text
    doc = r.json()["l7policy"]
    assert {k: doc[k] for k in ("name", "description", "action", "listener_id",
                                "redirect_pool_id", "redirect_url", "redirect_prefix",
                                "redirect_http_code", "position", "rules", "admin_state_up",
                                "provisioning_status", "operating_status", "tags")} == {
        "name": "deny", "description": "", "action": "REJECT", "listener_id": listener,
        "redirect_pool_id": None, "redirect_url": None, "redirect_prefix": None,
        "redirect_http_code": None, "position": 1, "rules": [], "admin_state_up": True,
        "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE",
        "tags": ["t1"]}
    assert doc["project_id"] == doc["tenant_id"]
    assert doc["created_at"] and doc["updated_at"] is None
    # the LB and the listener are taken until the worker is done
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "PENDING_UPDATE"
    lis = api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"]
    assert lis["provisioning_status"] == "PENDING_UPDATE"
    assert lis["l7policies"] == [{"id": doc["id"]}]
    settle(lb)
    done = show(api, doc["id"])
    assert (done["provisioning_status"], done["operating_status"]) == ("ACTIVE", "ONLINE")


def test_disabled_policy_and_rule_settle_offline(api, lb, listener):
    pol = make_policy(api, lb, listener, admin_state_up=False)
    assert show(api, pol["id"])["operating_status"] == "OFFLINE"
    rule = make_rule(api, lb, pol["id"], admin_state_up=False)
    got = api.get(f"{P}/{pol['id']}/rules/{rule['id']}").json()["rule"]
    assert (got["provisioning_status"], got["operating_status"]) == ("ACTIVE", "OFFLINE")


def test_v2_0_prefix_serves_the_same_routes(api, lb, listener):
    pol = make_policy(api, lb, listener)
    assert api.get(f"/v2.0/lbaas/l7policies/{pol['id']}").json()["l7policy"]["id"] == pol["id"]
    r = api.post(f"/v2.0/lbaas/l7policies/{pol['id']}/rules", json={"rule": {
        "type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "example.com"}})
    assert r.status_code == 201, r.text


# --- action / argument normalisation -------------------------------------------------------

def test_url_and_prefix_redirects_default_to_302_and_keep_a_given_code(api, lb, listener):
    url = make_policy(api, lb, listener, action="REDIRECT_TO_URL",
                      redirect_url="https://example.com/x")
    assert (url["redirect_url"], url["redirect_http_code"]) == ("https://example.com/x", 302)
    pre = make_policy(api, lb, listener, action="REDIRECT_PREFIX",
                      redirect_prefix="http://example.com", redirect_http_code=308)
    assert (pre["redirect_prefix"], pre["redirect_http_code"]) == ("http://example.com", 308)
    assert pre["redirect_url"] is None and pre["redirect_pool_id"] is None


def test_redirect_arguments_switch_the_action(api, lb, listener, pool):
    # REJECT drops a URL given with it; a redirect_url alone on update switches the action
    pol = make_policy(api, lb, listener, action="REJECT", redirect_url="http://a.example")
    assert (pol["action"], pol["redirect_url"]) == ("REJECT", None)
    r = api.put(f"{P}/{pol['id']}", json={"l7policy": {"redirect_url": "http://a.example"}})
    assert r.status_code == 200, r.text
    doc = r.json()["l7policy"]
    assert (doc["action"], doc["redirect_url"], doc["redirect_http_code"]) == (
        "REDIRECT_TO_URL", "http://a.example", 302)
    settle(lb)
    r = api.put(f"{P}/{pol['id']}", json={"l7policy": {"redirect_prefix": "http://b.example"}})
    assert r.status_code == 200, r.text
    doc = r.json()["l7policy"]
    assert (doc["action"], doc["redirect_prefix"], doc["redirect_url"],
            doc["redirect_http_code"]) == ("REDIRECT_PREFIX", "http://b.example", None, 302)
    assert doc["provisioning_status"] == "PENDING_UPDATE"
    settle(lb)
    # a pool switches to REDIRECT_TO_POOL and clears the URL arguments and the code
    r = api.put(f"{P}/{pol['id']}", json={"l7policy": {"redirect_pool_id": pool}})
    doc = r.json()["l7policy"]
    assert (doc["action"], doc["redirect_pool_id"], doc["redirect_prefix"],
            doc["redirect_http_code"]) == ("REDIRECT_TO_POOL", pool, None, None)
    settle(lb)
    # REJECT clears everything
    doc = api.put(f"{P}/{pol['id']}", json={"l7policy": {"action": "REJECT"}}).json()[
        "l7policy"]
    assert (doc["action"], doc["redirect_pool_id"], doc["redirect_url"],
            doc["redirect_prefix"], doc["redirect_http_code"]) == (
        "REJECT", None, None, None, None)


def test_reject_and_pool_policies_have_no_http_code(api, lb, listener, pool):
    rej = make_policy(api, lb, listener, action="REJECT", redirect_http_code=301)
    assert rej["redirect_http_code"] is None
    to_pool = make_policy(api, lb, listener, action="REDIRECT_TO_POOL", redirect_pool_id=pool,
                          redirect_http_code=301)
    assert (to_pool["redirect_pool_id"], to_pool["redirect_http_code"]) == (pool, None)


def test_http_code_update_keeps_the_redirect(api, lb, listener):
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_URL",
                      redirect_url="http://a.example/")
    r = api.put(f"{P}/{pol['id']}", json={"l7policy": {"redirect_http_code": 307}})
    assert r.json()["l7policy"]["redirect_http_code"] == 307
    assert r.json()["l7policy"]["redirect_url"] == "http://a.example/"


@pytest.mark.parametrize(("body", "message"), [
    ({"action": "REDIRECT_TO_URL"},
     "Invalid L7 Policy arguments: redirect_url must not be None"),
    ({"action": "REDIRECT_TO_POOL"},
     "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"),
    ({"action": "REDIRECT_PREFIX"},
     "Invalid L7 Policy arguments: redirect_prefix must not be None"),
    ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": "POOL", "redirect_prefix": "http://x.y"},
     "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or "
     "redirect_prefix at the same time"),
    ({"action": "REDIRECT_PREFIX", "redirect_pool_id": "POOL", "redirect_prefix": "http://x.y"},
     "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or "
     "redirect_prefix at the same time"),
    ({"action": "DROP"}, "Invalid input for field/attribute action. Value: 'DROP'. "
                         "Value should be one of: REJECT"),
    ({}, "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing."),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://x.y", "redirect_http_code": 300},
     "Invalid input for field/attribute redirect_http_code. Value: '300'. Value should be "
     "one of: 301, 302, 303, 307, 308"),
    ({"action": "REJECT", "position": 0},
     "Invalid input for field/attribute position. Value: '0'. Value should be greater or "
     "equal to 1"),
    ({"action": "REJECT", "position": 2147483648}, "Value should be lower or equal to"),
    ({"action": "REJECT", "name": "a\nb"}, "control characters"),
    ({"action": "REJECT", "bogus": 1}, "Unknown attribute for argument l7policy_.l7policy: "
                                       "bogus"),
])
def test_policy_create_bad_arguments_are_400_and_create_nothing(api, lb, listener, pool,
                                                                 body, message):
    body = {k: (pool if v == "POOL" else v) for k, v in body.items()}
    assert message in fault(post_policy(api, listener, **body))
    assert api.get(P).json()["l7policies"] == []
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"


@pytest.mark.parametrize("url", [
    "http://example.com/a\nb",          # newline: a second configuration line
    "http://example.com/a b",           # space: a second HAProxy word
    'http://example.com/"x',            # double quote opens an HAProxy string
    "http://example.com/\\x",           # backslash: HAProxy escape
    "http://example.com/%[src]",        # HAProxy log-format sample expression
    "http://example.com/%zz",           # not a percent-encoding
    "http://example.com/ if TRUE",      # an extra condition
    "ftp://example.com/",               # not http(s)
    "http:///path-only",                # no host
    "/relative",                        # no scheme
    "http://example.com:99999/",        # bad port
    "http://" + "a" * 250 + ".com/",    # longer than 255
])
@pytest.mark.parametrize("field", ["redirect_url", "redirect_prefix"])
def test_bad_redirect_targets_are_refused(api, lb, listener, field, url):
    action = "REDIRECT_TO_URL" if field == "redirect_url" else "REDIRECT_PREFIX"
    msg = fault(post_policy(api, listener, action=action, **{field: url}))
    assert msg.startswith(f"Invalid input for field/attribute {field}."), msg
    assert msg.endswith("Value must be a valid URL string") or "control characters" in msg \
        or "Value should" in msg, msg
    assert api.get(P).json()["l7policies"] == []


def test_urls_with_rfc3986_specials_are_accepted(api, lb, listener):
    url = "https://example.com:8443/a%20b/c;d?e=f&g='h'#frag"
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_URL", redirect_url=url)
    assert pol["redirect_url"] == url


def test_empty_update_and_null_action_are_400(api, lb, listener):
    pol = make_policy(api, lb, listener)
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {}})) == (
        "Invalid L7 Policy arguments: Invalid update options")
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {"action": None}})) == (
        "Invalid L7 Policy action specified: None")
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {
        "action": "REDIRECT_TO_URL"}})) == (
        "Invalid L7 Policy arguments: redirect_url must not be None")
    assert show(api, pol["id"])["provisioning_status"] == "ACTIVE"
    # a pool together with a URL in one update is refused (no action to say which wins)
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {
        "redirect_pool_id": "8b5a9e7e-0000-4000-8000-000000000000",
        "redirect_url": "http://x.y"}})).startswith(
        "Invalid L7 Policy arguments: Cannot specify redirect_pool_id")


def test_clearing_the_pool_of_a_pool_policy_is_400(api, lb, listener, pool):
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_POOL", redirect_pool_id=pool)
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {
        "redirect_pool_id": None}})) == (
        "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None")
    assert show(api, pol["id"])["redirect_pool_id"] == pool
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"


# --- listener and pool checks --------------------------------------------------------------

def test_unknown_listener_is_404(api, lb):
    missing = "8b5a9e7e-0000-4000-8000-000000000000"
    assert fault(post_policy(api, missing, action="REJECT"), 404) == (
        f"Listener {missing} not found.")


def test_tcp_listener_has_no_l7_policies(api, lb):
    lis = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 81}}).json()["listener"]
    settle(lb)
    assert "TCP protocol listeners do not support L7 policies" in fault(
        post_policy(api, lis["id"], action="REJECT"), 501)


def test_redirect_pool_must_exist_on_the_same_lb(api, lb, listener, subnet_id):
    missing = "8b5a9e7e-0000-4000-8000-000000000000"
    assert fault(post_policy(api, listener, action="REDIRECT_TO_POOL",
                             redirect_pool_id=missing), 404) == f"Pool {missing} not found."
    lb2 = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": subnet_id}}).json()["loadbalancer"]["id"]
    settle(lb2)
    foreign = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb2, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}).json()[
        "pool"]["id"]
    settle(lb2)
    assert fault(post_policy(api, listener, redirect_pool_id=foreign,
                             action="REDIRECT_TO_POOL"), 404) == f"Pool {foreign} not found."


def test_redirect_pool_protocol_must_suit_the_listener(api, lb, listener):
    tcp_pool = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}).json()[
        "pool"]["id"]
    settle(lb)
    assert fault(post_policy(api, listener, action="REDIRECT_TO_POOL",
                             redirect_pool_id=tcp_pool)) == (
        "Validation failure: The pool protocol 'TCP' is invalid while the listener protocol "
        "is 'HTTP'.")


# --- positions ----------------------------------------------------------------------------

def test_positions_insert_shift_append_move_and_close_up(api, lb, listener):
    a = make_policy(api, lb, listener, name="a")
    b = make_policy(api, lb, listener, name="b")
    assert (a["position"], b["position"]) == (1, 2)
    c = make_policy(api, lb, listener, name="c", position=1)   # inserted first
    assert positions(api, listener) == [c["id"], a["id"], b["id"]]
    d = make_policy(api, lb, listener, name="d", position=99)  # past the end: appended
    assert d["position"] == 4
    assert positions(api, listener) == [c["id"], a["id"], b["id"], d["id"]]
    r = api.put(f"{P}/{d['id']}", json={"l7policy": {"position": 2}})
    assert r.json()["l7policy"]["position"] == 2
    settle(lb)
    assert positions(api, listener) == [c["id"], d["id"], a["id"], b["id"]]
    r = api.put(f"{P}/{c['id']}", json={"l7policy": {"position": 2147483647}})
    settle(lb)
    assert positions(api, listener) == [d["id"], a["id"], b["id"], c["id"]]
    assert api.delete(f"{P}/{a['id']}").status_code == 204
    assert show(api, a["id"])["provisioning_status"] == "PENDING_DELETE"
    settle(lb)
    assert api.get(f"{P}/{a['id']}").status_code == 404
    assert positions(api, listener) == [d["id"], b["id"], c["id"]]


def test_list_sorted_by_position_and_filtered(api, lb, listener):
    a = make_policy(api, lb, listener, name="a")
    b = make_policy(api, lb, listener, name="b", position=1)
    assert [p["id"] for p in api.get(f"{P}?sort=position").json()["l7policies"]] == [
        b["id"], a["id"]]
    assert [p["id"] for p in api.get(f"{P}?sort=position:desc").json()["l7policies"]] == [
        a["id"], b["id"]]
    assert [p["name"] for p in api.get(f"{P}?name=a").json()["l7policies"]] == ["a"]
    assert len(api.get(f"{P}?listener_id={listener}&action=REJECT").json()["l7policies"]) == 2
    page = api.get(f"{P}?limit=1&sort=position").json()
    assert [p["id"] for p in page["l7policies"]] == [b["id"]]
    assert page["l7policies_links"][0]["rel"] == "next"
    assert api.get(f"{P}?fields=id&fields=position").json()["l7policies"][0].keys() == {
        "id", "position"}
    assert api.get(f"{P}/{a['id']}?fields=action").json() == {"l7policy": {"action": "REJECT"}}
    assert fault(api.get(f"{P}?pool_id=x")) == (
        "One or more arguments are either duplicate or invalid")


# --- locking -------------------------------------------------------------------------------

def test_busy_load_balancer_is_409(api, lb, listener):
    pol = make_policy(api, lb, listener)
    assert api.put(f"/v2/lbaas/listeners/{listener}", json={"listener": {
        "name": "x"}}).status_code == 200  # LB now PENDING_UPDATE
    assert fault(post_policy(api, listener, action="REJECT"), 409) == (
        f"Load Balancer {lb} is immutable and cannot be updated.")
    assert fault(api.put(f"{P}/{pol['id']}", json={"l7policy": {"name": "y"}}), 409)
    assert fault(api.delete(f"{P}/{pol['id']}"), 409)
    r = api.post(f"{P}/{pol['id']}/rules", json={"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}})
    assert fault(r, 409) == f"Load Balancer {lb} is immutable and cannot be updated."


def test_rules_need_the_policy_active(api, lb, listener):
    pol = make_policy(api, lb, listener)
    rule = make_rule(api, lb, pol["id"])
    api.put(f"{P}/{pol['id']}", json={"l7policy": {"name": "busy"}})  # policy PENDING_UPDATE
    body = {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}}
    msg = f"L7Policy {pol['id']} is immutable and cannot be updated."
    assert fault(api.post(f"{P}/{pol['id']}/rules", json=body), 409) == msg
    assert fault(api.put(f"{P}/{pol['id']}/rules/{rule['id']}", json=body), 409) == msg
    assert fault(api.delete(f"{P}/{pol['id']}/rules/{rule['id']}"), 409) == msg


def test_rule_changes_take_lb_listener_and_policy(api, lb, listener):
    pol = make_policy(api, lb, listener)
    r = api.post(f"{P}/{pol['id']}/rules", json={"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}})
    assert r.json()["rule"]["provisioning_status"] == "PENDING_CREATE"
    assert show(api, pol["id"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"][
        "provisioning_status"] == "PENDING_UPDATE"
    settle(lb)
    assert show(api, pol["id"])["provisioning_status"] == "ACTIVE"
    assert show(api, pol["id"])["rules"] == [{"id": r.json()["rule"]["id"]}]


def test_fifty_rules_at_most(api, lb, listener):
    pol = make_policy(api, lb, listener)
    with dbs.transaction() as s:  # 50 rules straight into the store: the API path is above
        for i in range(50):
            s.add(L7Rule(l7policy_id=pol["id"], project_id=pol["project_id"], type="PATH",
                         compare_type="EQUAL_TO", value=f"/{i}", provisioning_status="ACTIVE",
                         operating_status="ONLINE"))
    r = api.post(f"{P}/{pol['id']}/rules", json={"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": "/51"}})
    assert fault(r, 409) == f"Too many rules on L7 policy {pol['id']}"


# --- rules ---------------------------------------------------------------------------------

def test_rule_fields_and_defaults(api, lb, listener):
    pol = make_policy(api, lb, listener)
    r = api.post(f"{P}/{pol['id']}/rules", json={"rule": {
        "type": "HEADER", "compare_type": "CONTAINS", "key": "X-Env", "value": "prod",
        "tags": ["a"]}})
    assert r.status_code == 201, r.text
    doc = r.json()["rule"]
    assert set(doc) == {"id", "type", "compare_type", "key", "value", "invert",
                        "provisioning_status", "operating_status", "created_at",
                        "updated_at", "project_id", "tenant_id", "admin_state_up", "tags"}
    assert (doc["type"], doc["compare_type"], doc["key"], doc["value"], doc["invert"],
            doc["admin_state_up"], doc["operating_status"]) == (
        "HEADER", "CONTAINS", "X-Env", "prod", False, True, "OFFLINE")
    settle(lb)
    got = api.get(f"{P}/{pol['id']}/rules/{doc['id']}").json()["rule"]
    assert (got["provisioning_status"], got["operating_status"]) == ("ACTIVE", "ONLINE")
    # update: invert null means false; merged validation
    r = api.put(f"{P}/{pol['id']}/rules/{doc['id']}", json={"rule": {"invert": True}})
    assert r.json()["rule"]["invert"] is True
    settle(lb)
    r = api.put(f"{P}/{pol['id']}/rules/{doc['id']}", json={"rule": {"invert": None,
                                                                      "value": "dev"}})
    assert (r.json()["rule"]["invert"], r.json()["rule"]["value"]) == (False, "dev")
    settle(lb)
    # switching to COOKIE keeps the key; to PATH the key is kept but ignored
    r = api.put(f"{P}/{pol['id']}/rules/{doc['id']}", json={"rule": {"type": "COOKIE"}})
    assert r.status_code == 200, r.text
    settle(lb)
    r = api.put(f"{P}/{pol['id']}/rules/{doc['id']}", json={"rule": {
        "type": "SSL_CONN_HAS_CERT"}})
    assert fault(r) == ('Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT '
                        'does not use the "key" field.')


def test_rule_update_validates_the_merged_rule(api, lb, listener):
    pol = make_policy(api, lb, listener)
    rule = make_rule(api, lb, pol["id"])  # PATH, no key
    assert fault(api.put(f"{P}/{pol['id']}/rules/{rule['id']}", json={"rule": {
        "type": "HEADER"}})) == "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"
    assert fault(api.put(f"{P}/{pol['id']}/rules/{rule['id']}", json={"rule": {
        "value": "a b"}})) == "Error parsing L7Rule: Invalid characters in comparison value"
    got = api.get(f"{P}/{pol['id']}/rules/{rule['id']}").json()["rule"]
    assert (got["type"], got["value"], got["provisioning_status"]) == (
        "PATH", "/api", "ACTIVE")


GOOD_RULES = [
    {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
    {"type": "PATH", "compare_type": "REGEX", "value": r"^/api/v[0-9]+/(a|b)\d"},
    {"type": "PATH", "compare_type": "CONTAINS", "value": "/x'y#z\"w\\"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": '"/with space"'},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "FILE_TYPE", "compare_type": "REGEX", "value": r"\.(png|gif)$"},
    {"type": "HEADER", "compare_type": "STARTS_WITH", "key": "X-A'b#c", "value": "-i"},
    {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "session", "value": "a#b'c"},
    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "TRUE"},
    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
    {"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "CN", "value": "web"},
    {"type": "SSL_DN_FIELD", "compare_type": "REGEX", "key": "OU", "value": "^dev-"},
]


@pytest.mark.parametrize("body", GOOD_RULES, ids=lambda b: f"{b['type']}-{b['compare_type']}")
def test_rule_matrix_accepts(api, lb, listener, body):
    pol = make_policy(api, lb, listener)
    rule = make_rule(api, lb, pol["id"], **body)
    assert {k: rule[k] for k in body} == body


BAD_RULES = [
    ({"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": ""},
     "Invalid L7 Rule: L7 rule type requires a value"),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a b"},
     "Invalid characters in comparison value"),
    ({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a\nuse_backend x"},
     "control characters"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "(unclosed"},
     "Unable to parse regular expression: missing ), unterminated subpattern"),
    ({"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"},
     "Invalid L7 Rule: invalid comparison type for rule type"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"},
     "Invalid L7 Rule: L7 rule type requires a key"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X,1", "value": "x"},
     "Invalid characters in key"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A)", "value": "x"},
     "Invalid characters in key"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X", "value": "a b"},
     "Invalid characters in header value"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "c", "value": "a;b"},
     "Invalid characters in cookie value"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "c", "value": 'a"b'},
     "Invalid characters in cookie value"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "value": "x"},
     "Invalid L7 Rule: L7 rule type requires a key"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "false"},
     "L7rule value false is not a boolean True string."),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "CONTAINS", "value": "true"},
     "L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type."),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"},
     "L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "key": "k", "value": "1"},
     'L7rule type SSL_VERIFY_RESULT does not use the "key" field.'),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "x"},
     "L7rule type SSL_DN_FIELD needs to specify a key and a value."),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "1CN", "value": "x"},
     "Invalid L7rule distinguished name field."),
    ({"type": "URL", "compare_type": "EQUAL_TO", "value": "x"},
     "Invalid input for field/attribute type. Value: 'URL'. Value should be one of"),
    ({"type": "PATH", "compare_type": "LIKE", "value": "x"},
     "Invalid input for field/attribute compare_type. Value: 'LIKE'"),
    ({"type": "PATH", "compare_type": "EQUAL_TO"},
     "Invalid input for field/attribute value. Value: 'None'. Mandatory field missing."),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "x" * 256},
     "maximum character requirement of 255"),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "x", "invert": "sometimes"},
     "Value not an unambiguous boolean"),
]


@pytest.mark.parametrize(("body", "message"), BAD_RULES, ids=lambda x: str(x)[:40])
def test_rule_matrix_refuses(api, lb, listener, body, message):
    pol = make_policy(api, lb, listener)
    msg = fault(api.post(f"{P}/{pol['id']}/rules", json={"rule": body}))
    assert message in msg
    if "field/attribute" not in message and "character" not in message \
            and "boolean" not in message:
        assert msg.startswith("Error parsing L7Rule: ")
    assert api.get(f"{P}/{pol['id']}/rules").json()["rules"] == []
    assert show(api, pol["id"])["provisioning_status"] == "ACTIVE"


def test_rules_404_and_listing(api, lb, listener):
    pol = make_policy(api, lb, listener)
    other = make_policy(api, lb, listener)
    rule = make_rule(api, lb, pol["id"], value="/a", tags=["x"])
    make_rule(api, lb, pol["id"], value="/b", invert=True)
    missing = "8b5a9e7e-0000-4000-8000-000000000000"
    assert fault(api.get(f"{P}/{missing}/rules"), 404) == f"L7Policy {missing} not found."
    assert fault(api.get(f"{P}/{missing}"), 404) == f"L7 Policy {missing} not found."
    assert fault(api.get(f"{P}/{other['id']}/rules/{rule['id']}"), 404) == (
        f"L7 Rule {rule['id']} not found.")
    rules = api.get(f"{P}/{pol['id']}/rules").json()
    assert len(rules["rules"]) == 2 and rules["rules_links"] == []
    assert [r["value"] for r in api.get(f"{P}/{pol['id']}/rules?invert=true").json()[
        "rules"]] == ["/b"]
    assert [r["value"] for r in api.get(f"{P}/{pol['id']}/rules?tags=x").json()["rules"]] == [
        "/a"]
    assert [r["value"] for r in api.get(f"{P}/{pol['id']}/rules?sort=value:desc").json()[
        "rules"]] == ["/b", "/a"]
    assert api.get(f"{P}/{other['id']}/rules").json()["rules"] == []
    assert api.delete(f"{P}/{pol['id']}/rules/{rule['id']}").status_code == 204
    settle(lb)
    assert api.get(f"{P}/{pol['id']}/rules/{rule['id']}").status_code == 404
    assert len(show(api, pol["id"])["rules"]) == 1


def test_policy_create_with_rules(api, lb, listener):
    r = post_policy(api, listener, action="REJECT", rules=[
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a"},
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X", "value": "1"}])
    assert r.status_code == 201, r.text
    assert len(r.json()["l7policy"]["rules"]) == 2
    assert "Error parsing L7Rule" in fault(post_policy(api, listener, action="REJECT", rules=[
        {"type": "HEADER", "compare_type": "EQUAL_TO", "value": "1"}]))


# --- deletes elsewhere ----------------------------------------------------------------------

def test_pool_used_by_a_policy_cannot_be_deleted(api, lb, listener, other_pool):
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_POOL",
                      redirect_pool_id=other_pool)
    assert fault(api.delete(f"/v2/lbaas/pools/{other_pool}"), 409) == (
        f"Pool {other_pool} is in use by L7 policy {pol['id']}")
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"
    # once the policy points elsewhere, the pool goes
    api.put(f"{P}/{pol['id']}", json={"l7policy": {"action": "REJECT"}})
    settle(lb)
    assert api.delete(f"/v2/lbaas/pools/{other_pool}").status_code == 204
    settle(lb)
    assert api.get(f"/v2/lbaas/pools/{other_pool}").status_code == 404


def test_deleting_a_listener_deletes_its_policies_and_rules(api, lb, listener, other_pool):
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_POOL",
                      redirect_pool_id=other_pool)
    make_rule(api, lb, pol["id"])
    assert api.delete(f"/v2/lbaas/listeners/{listener}").status_code == 204
    settle(lb)
    assert api.get(f"{P}/{pol['id']}").status_code == 404
    with dbs.transaction() as s:
        assert s.scalar(select(func.count()).select_from(L7Rule)) == 0
    assert api.delete(f"/v2/lbaas/pools/{other_pool}").status_code == 204  # free again


def test_cascade_delete_of_the_lb_removes_policies_and_rules(api, lb, listener, other_pool):
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_POOL",
                      redirect_pool_id=other_pool)
    make_rule(api, lb, pol["id"])
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb}?cascade=true").status_code == 204
    with dbs.transaction() as s:  # what the worker does once the amphora is gone
        _delete_lb_rows(s, s.get(LoadBalancer, lb))
    with dbs.transaction() as s:
        assert s.scalar(select(func.count()).select_from(L7Policy)) == 0
        assert s.scalar(select(func.count()).select_from(L7Rule)) == 0
    assert api.get(f"{P}/{pol['id']}").status_code == 404


def test_failed_reconcile_puts_pending_policies_and_rules_in_error(api, lb, listener):
    pol = make_policy(api, lb, listener)
    r = api.post(f"{P}/{pol['id']}/rules", json={"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}})
    _mark_failed(lb, "haproxy refused the configuration", retryable=False)
    assert show(api, pol["id"])["provisioning_status"] == "ERROR"
    rule = api.get(f"{P}/{pol['id']}/rules/{r.json()['rule']['id']}").json()["rule"]
    assert rule["provisioning_status"] == "ERROR"
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"
    # a later successful reconcile repairs them
    api.put(f"{P}/{pol['id']}", json={"l7policy": {"name": "again"}})
    settle(lb)
    assert show(api, pol["id"])["provisioning_status"] == "ACTIVE"


def test_a_pool_used_by_a_policy_lists_the_listener_and_shows_in_the_status_tree(
        api, lb, listener, other_pool):
    assert api.get(f"/v2/lbaas/pools/{other_pool}").json()["pool"]["listeners"] == []
    pol = make_policy(api, lb, listener, action="REDIRECT_TO_POOL",
                      redirect_pool_id=other_pool)
    # a policy without rules does not count (Octavia's definition)
    assert api.get(f"/v2/lbaas/pools/{other_pool}").json()["pool"]["listeners"] == []
    make_rule(api, lb, pol["id"])
    assert api.get(f"/v2/lbaas/pools/{other_pool}").json()["pool"]["listeners"] == [
        {"id": listener}]
    tree = api.get(f"/v2/lbaas/loadbalancers/{lb}/status").json()["statuses"]
    [lis] = tree["loadbalancer"]["listeners"]
    assert [p["id"] for p in lis["pools"]] == [other_pool]
    # a pool update now takes the listener too
    api.put(f"/v2/lbaas/pools/{other_pool}", json={"pool": {"name": "x"}})
    assert api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"][
        "provisioning_status"] == "PENDING_UPDATE"

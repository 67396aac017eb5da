"""A fully populated load balancer create through real HAProxy: one POST, one wait, and the
whole graph (listener, pools, members, monitor, L7 policy and rule) is ACTIVE and serving."""

from __future__ import annotations

from collections import Counter

from tests.e2e.dataplane import Cloud, HTTPBackend, answers, wait_serving
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until


def test_graph_create_serves_round_robin_in_one_go(cloud: Cloud, backends):
    a, b, api_backend = (HTTPBackend(n).start() for n in ("a", "b", "api"))
    backends.extend([a, b, api_backend])

    def member(backend):
        return {"address": backend.host, "protocol_port": backend.port,
                "subnet_id": cloud.subnet_id}

    r = cloud.post("loadbalancers", "loadbalancer", {
        "name": "graph", "vip_subnet_id": cloud.subnet_id,
        "listeners": [{
            "name": "http", "protocol": "HTTP", "protocol_port": 80,
            "default_pool": {"name": "web"},
            "l7policies": [{"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "api"},
                            "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                       "value": "/api"}]}]}],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                               "max_retries_down": 1, "url_path": "/"},
             "members": [member(a), member(b)]},
            {"name": "api", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [member(api_backend)]}]})
    assert r.status_code == 201, r.text
    created = r.json()["loadbalancer"]
    assert created["provisioning_status"] == "PENDING_CREATE"

    lb = cloud.wait_active(created["id"])  # one wait for the whole graph
    for lis in created["listeners"]:
        assert cloud.get(f"listeners/{lis['id']}")["listener"]["provisioning_status"] == \
            "ACTIVE"
        for policy in lis["l7policies"]:
            got = cloud.get(f"l7policies/{policy['id']}")["l7policy"]
            assert got["provisioning_status"] == "ACTIVE"
    pools = {p["name"]: p for p in created["pools"]}
    for p in pools.values():
        assert cloud.get(f"pools/{p['id']}")["pool"]["provisioning_status"] == "ACTIVE"
        for m in p["members"]:
            got = cloud.get(f"pools/{p['id']}/members/{m['id']}")["member"]
            assert got["provisioning_status"] == "ACTIVE"
    hm = pools["web"]["healthmonitor"]
    assert cloud.get(f"healthmonitors/{hm['id']}")["healthmonitor"]["provisioning_status"] == \
        "ACTIVE"

    url = f"http://{lb['vip_address']}:80"
    wait_serving(url, {"a", "b"})
    counts = Counter(answers(url, 20))
    assert counts == {"a": 10, "b": 10}, counts
    assert set(answers(url, 4, path="/api/x")) == {"api"}
    # the monitor runs: both members of `web` come ONLINE
    for m in pools["web"]["members"]:
        cloud.wait_member_status(pools["web"], m, "ONLINE")
    wait_until(lambda: cloud.get(f"loadbalancers/{lb['id']}")["loadbalancer"][
        "operating_status"] == "ONLINE", 20, what="LB ONLINE")

    r = cloud.o.api("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    assert r.status_code == 204, r.text

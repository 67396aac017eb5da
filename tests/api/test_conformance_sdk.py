"""Conformance with openstacksdk's load-balancer proxy, unchanged, against a live `octolb up`
(no-op drivers: this is about the API, not the data plane). Every resource the proxy knows is
created, read, found, listed, updated and deleted through it, and the values it parses back
are checked: a field octolb misnames or mistypes shows up here as the SDK sees it."""

from __future__ import annotations

import json
import uuid

import openstack
import pytest

from tests.harness import Octolb

NOOP = ("[controller_worker]\ncompute_driver = noop\namphora_driver = noop\n"
        "network_driver = noop\n")


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    o = Octolb(tmp_path_factory.mktemp("sdk") / "state", extra_conf=NOOP).start()
    c = openstack.connect(auth_type="none", auth={"endpoint": o.url},
                          load_balancer_endpoint_override=o.url,
                          network_endpoint_override=f"{o.url}/network")
    try:
        yield c.load_balancer
    finally:
        c.close()
        o.close()


def wait(lb_proxy, lb_id: str):
    return lb_proxy.wait_for_load_balancer(lb_id, status="ACTIVE", failures=["ERROR"],
                                           interval=0.2, wait=60)


@pytest.fixture(scope="module")
def graph(conn):
    lb = conn.create_load_balancer(name="sdk-lb", vip_subnet_id=str(uuid.uuid4()),
                                   description="d", tags=["a", "b"])
    assert lb.provisioning_status == "PENDING_CREATE" and lb.operating_status == "OFFLINE"
    lb = wait(conn, lb.id)
    lis = conn.create_listener(name="sdk-lis", loadbalancer_id=lb.id, protocol="HTTP",
                               protocol_port=80, connection_limit=100,
                               insert_headers={"X-Forwarded-For": "true"},
                               timeout_client_data=1000, allowed_cidrs=["10.0.0.0/8"])
    wait(conn, lb.id)
    pool = conn.create_pool(name="sdk-pool", listener_id=lis.id, protocol="HTTP",
                            lb_algorithm="LEAST_CONNECTIONS",
                            session_persistence={"type": "HTTP_COOKIE"})
    wait(conn, lb.id)
    member = conn.create_member(pool, address="192.0.2.10", protocol_port=8080, weight=5,
                                backup=True, subnet_id=lb.vip_subnet_id)
    wait(conn, lb.id)
    hm = conn.create_health_monitor(pool_id=pool.id, type="HTTP", delay=3, timeout=2,
                                    max_retries=2, url_path="/health",
                                    expected_codes="200-204", http_method="HEAD")
    wait(conn, lb.id)
    pol = conn.create_l7_policy(listener_id=lis.id, action="REDIRECT_TO_URL",
                                redirect_url="https://example.com/", position=1)
    wait(conn, lb.id)
    rule = conn.create_l7_rule(pol, type="PATH", compare_type="STARTS_WITH", value="/old")
    wait(conn, lb.id)
    return {"lb": lb, "lis": lis, "pool": pool, "member": member, "hm": hm, "pol": pol,
            "rule": rule}


def test_load_balancer(conn, graph):
    lb = conn.get_load_balancer(graph["lb"].id)
    assert (lb.name, lb.description, sorted(lb.tags)) == ("sdk-lb", "d", ["a", "b"])
    assert lb.is_admin_state_up is True and lb.provider == "amphora"
    assert lb.provisioning_status == "ACTIVE" and lb.vip_address
    assert [x["id"] for x in lb.listeners] == [graph["lis"].id]
    assert [x["id"] for x in lb.pools] == [graph["pool"].id]
    assert conn.find_load_balancer("sdk-lb").id == lb.id
    assert lb.id in [x.id for x in conn.load_balancers(tags="a")]
    assert lb.id not in [x.id for x in conn.load_balancers(tags="zzz")]
    lb = conn.update_load_balancer(lb, description="e")
    assert lb.description == "e"
    wait(conn, lb.id)
    stats = conn.get_load_balancer_statistics(lb.id)
    assert stats.total_connections == 0 and stats.bytes_in == 0


def test_listener(conn, graph):
    lis = conn.get_listener(graph["lis"].id)
    assert (lis.protocol, lis.protocol_port, lis.connection_limit) == ("HTTP", 80, 100)
    assert lis.insert_headers == {"X-Forwarded-For": "true"}
    assert lis.timeout_client_data == 1000 and lis.timeout_member_connect == 5000
    assert lis.allowed_cidrs == ["10.0.0.0/8"]
    assert lis.default_pool_id == graph["pool"].id
    assert [x["id"] for x in lis.l7_policies] == [graph["pol"].id]
    assert conn.find_listener("sdk-lis").id == lis.id
    lis = conn.update_listener(lis, connection_limit=200)
    assert lis.connection_limit == 200
    wait(conn, graph["lb"].id)
    assert conn.get_listener_statistics(lis.id).total_connections == 0


def test_pool_member_monitor(conn, graph):
    pool = conn.get_pool(graph["pool"].id)
    assert (pool.protocol, pool.lb_algorithm) == ("HTTP", "LEAST_CONNECTIONS")
    assert pool.session_persistence["type"] == "HTTP_COOKIE"
    assert pool.health_monitor_id == graph["hm"].id
    assert [x["id"] for x in pool.members] == [graph["member"].id]
    m = conn.get_member(graph["member"].id, pool)
    assert (m.address, m.protocol_port, m.weight, m.backup) == ("192.0.2.10", 8080, 5, True)
    assert [x.id for x in conn.members(pool)] == [m.id]
    m = conn.update_member(m, pool, weight=0)
    assert m.weight == 0
    wait(conn, graph["lb"].id)
    hm = conn.get_health_monitor(graph["hm"].id)
    assert (hm.type, hm.delay, hm.timeout, hm.max_retries, hm.max_retries_down) == \
        ("HTTP", 3, 2, 2, 3)
    assert (hm.url_path, hm.expected_codes, hm.http_method) == ("/health", "200-204", "HEAD")
    hm = conn.update_health_monitor(hm, delay=4)
    assert hm.delay == 4
    wait(conn, graph["lb"].id)
    assert conn.find_pool("sdk-pool").id == pool.id


def test_l7(conn, graph):
    pol = conn.get_l7_policy(graph["pol"].id)
    assert (pol.action, pol.redirect_url, pol.position) == \
        ("REDIRECT_TO_URL", "https://example.com/", 1)
    assert [x["id"] for x in pol.rules] == [graph["rule"].id]
    rule = conn.get_l7_rule(graph["rule"].id, pol)
    assert (rule.type, rule.compare_type, rule.rule_value, rule.invert) == \
        ("PATH", "STARTS_WITH", "/old", False)
    rule = conn.update_l7_rule(rule, pol, rule_value="/older")
    assert rule.rule_value == "/older"
    wait(conn, graph["lb"].id)
    assert [x.id for x in conn.l7_rules(pol)] == [rule.id]
    pol = conn.update_l7_policy(pol, name="moved")  # the SDK has no redirect_http_code
    assert conn.find_l7_policy("moved").id == pol.id
    wait(conn, graph["lb"].id)


def test_quota(conn):
    project = uuid.uuid4().hex
    q = conn.update_quota(project, load_balancers=3, listeners=-1)
    assert (q.load_balancers, q.listeners) == (3, -1)
    got = conn.get_quota(project)
    assert got.load_balancers == 3 and got.pools == -1
    assert project in [x.project_id for x in conn.quotas()]
    assert conn.get_quota_default().load_balancers == -1  # GET /quotas/defaults
    conn.delete_quota(project)  # resets the record's limits to null (the defaults)
    listed = {x.project_id: x for x in conn.quotas()}
    assert listed[project].load_balancers is None
    assert conn.get_quota(project).load_balancers == -1


def test_providers_flavors_zones(conn):
    assert {"amphora", "octavia"} <= {p.name for p in conn.providers()}
    caps = {c.name for c in conn.provider_flavor_capabilities("amphora")}
    assert "loadbalancer_topology" in caps
    fp = conn.create_flavor_profile(name="fp", provider_name="amphora",
                                    flavor_data=json.dumps({"haproxy_nbthread": 2}))
    fl = conn.create_flavor(name="fl", flavor_profile_id=fp.id, description="x")
    assert conn.get_flavor(fl.id).flavor_profile_id == fp.id
    assert conn.find_flavor_profile("fp").id == fp.id
    assert conn.update_flavor(fl, description="y").description == "y"
    azp = conn.create_availability_zone_profile(name="azp", provider_name="amphora",
                                                availability_zone_data="{}")
    az = conn.create_availability_zone(name="az1", availability_zone_profile_id=azp.id)
    assert az.name == "az1" and az.is_enabled is True
    assert conn.get_availability_zone("az1").availability_zone_profile_id == azp.id
    assert conn.update_availability_zone("az1", description="z").description == "z"
    assert "az1" in [z.name for z in conn.availability_zones()]
    conn.delete_availability_zone("az1")
    conn.delete_availability_zone_profile(azp)
    conn.delete_flavor(fl)
    conn.delete_flavor_profile(fp)
    assert conn.find_flavor("fl") is None


def test_amphorae_admin_api(conn, graph):
    amps = list(conn.amphorae(loadbalancer_id=graph["lb"].id))
    assert len(amps) == 1 and amps[0].status == "ALLOCATED"
    assert conn.get_amphora(amps[0].id).loadbalancer_id == graph["lb"].id
    conn.configure_amphora(amps[0].id)


def test_delete_cascade_and_children(conn, graph):
    lb_id = graph["lb"].id
    conn.delete_l7_rule(graph["rule"], graph["pol"])
    wait(conn, lb_id)
    conn.delete_l7_policy(graph["pol"])
    wait(conn, lb_id)
    conn.delete_member(graph["member"], graph["pool"])
    wait(conn, lb_id)
    conn.delete_health_monitor(graph["hm"])
    wait(conn, lb_id)
    lb = conn.get_load_balancer(lb_id)
    conn.delete_load_balancer(lb_id, cascade=True)
    conn.wait_for_delete(lb, interval=0.2, wait=60)
    assert conn.find_load_balancer("sdk-lb") is None

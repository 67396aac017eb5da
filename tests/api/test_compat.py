"""Wire compatibility of what exists: shapes, statuses, the 409 lock, cascade, discovery."""

from __future__ import annotations

from tests.api.conftest import settle


def test_version_document_lists_every_version_with_the_last_current(api):
    doc = api.get("/").json()["versions"]
    assert [v["id"] for v in doc][:2] == ["v2.0", "v2.1"]
    assert doc[-1]["id"] == "v2.30" and doc[-1]["status"] == "CURRENT"
    assert all(v["status"] == "SUPPORTED" for v in doc[:-1])
    assert doc[0]["links"] == [{"href": "http://testserver/v2", "rel": "self"}]
    assert set(doc[0]) == {"id", "status", "updated", "links"}
    assert api.get("/v2.0").json() == "v2"


def test_create_lb_allocates_vip_and_renders_octavia_fields(api, subnet_id):
    r = api.post("/v2/lbaas/loadbalancers",
                 json={"loadbalancer": {"name": "lb1", "vip_subnet_id": subnet_id}})
    assert r.status_code == 201
    assert r.headers["X-OpenStack-Request-Id"].startswith("req-")
    lb = r.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["vip_address"].startswith("127.1.")
    assert lb["vip_subnet_id"] == subnet_id
    assert lb["tenant_id"] == lb["project_id"]
    assert lb["updated_at"] is None and "T" in lb["created_at"] and "Z" not in lb["created_at"]
    assert lb["description"] == "" and lb["listeners"] == [] and lb["tags"] == []
    port = api.get(f"/network/v2.0/ports/{lb['vip_port_id']}").json()["port"]
    assert port["fixed_ips"] == [{"subnet_id": subnet_id, "ip_address": lb["vip_address"]}]


def test_fixed_vip_address_is_honoured_then_refused_when_taken(api, subnet_id):
    body = {"loadbalancer": {"vip_subnet_id": subnet_id, "vip_address": "127.1.7.7"}}
    r = api.post("/v2/lbaas/loadbalancers", json=body)
    assert r.status_code == 201 and r.json()["loadbalancer"]["vip_address"] == "127.1.7.7"
    r = api.post("/v2/lbaas/loadbalancers", json=body)
    assert r.status_code == 409
    assert "The VIP IP address is already in use" in r.json()["faultstring"]
    body["loadbalancer"]["vip_address"] = "10.9.9.9"
    assert api.post("/v2/lbaas/loadbalancers", json=body).status_code == 400


def test_child_write_on_pending_lb_is_409(api, subnet_id):
    lb = api.post("/v2/lbaas/loadbalancers",
                  json={"loadbalancer": {"vip_subnet_id": subnet_id}}).json()["loadbalancer"]
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        f"Load Balancer {lb['id']} is immutable and cannot be updated.")
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "x"}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == (
        f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}")


def test_listener_create_marks_lb_pending_update_and_notifies(api, lb, bus):
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}})
    doc = r.json()["listener"]
    assert doc["provisioning_status"] == "PENDING_CREATE"
    assert doc["timeout_client_data"] == 50000 and doc["timeout_member_connect"] == 5000
    assert doc["allowed_cidrs"] is None and doc["insert_headers"] == {}
    assert doc["loadbalancers"] == [{"id": lb}]
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"][
        "provisioning_status"] == "PENDING_UPDATE"
    assert bus.sent[-1] == lb


def test_duplicate_listener_port_is_409(api, lb, listener):
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 80}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == ("Another Listener on this Load Balancer is already using "
                                       "protocol HTTP and protocol_port 80")


def test_member_status_depends_on_health_monitor(api, lb, pool):
    m = api.post(f"/v2/lbaas/pools/{pool}/members", json={"member": {
        "address": "127.0.0.1", "protocol_port": 8080}}).json()["member"]
    assert m["operating_status"] == "NO_MONITOR" and m["weight"] == 1
    assert m["backup"] is False and m["vnic_type"] == "normal" and "pool_id" not in m
    settle(lb)
    hm = api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": pool, "type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2}})
    assert hm.status_code == 201
    doc = hm.json()["healthmonitor"]
    assert (doc["http_method"], doc["url_path"], doc["expected_codes"]) == ("GET", "/", "200")
    assert doc["max_retries_down"] == 3 and doc["pools"] == [{"id": pool}]
    settle(lb)
    m2 = api.post(f"/v2/lbaas/pools/{pool}/members", json={"member": {
        "address": "127.0.0.2", "protocol_port": 8080}}).json()["member"]
    assert m2["operating_status"] == "OFFLINE"
    dup = api.post(f"/v2/lbaas/pools/{pool}/members", json={"member": {
        "address": "127.0.0.2", "protocol_port": 8080}})
    assert dup.status_code == 409


def test_delete_lb_with_children_needs_cascade(api, lb, listener):
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb}")
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        f"Validation failure: Cannot delete Load Balancer {lb} - it has children")
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb}?cascade=True")
    assert r.status_code == 204 and r.content == b""
    doc = api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert doc["provisioning_status"] == "PENDING_DELETE"


def test_status_tree_shape(api, lb, listener, pool):
    tree = api.get(f"/v2/lbaas/loadbalancers/{lb}/status").json()
    top = tree["statuses"]["loadbalancer"]
    assert set(top) == {"id", "name", "provisioning_status", "operating_status", "listeners"}
    pools = top["listeners"][0]["pools"]
    assert pools[0]["id"] == pool and pools[0]["health_monitor"] is None
    assert api.get(f"/v2/lbaas/loadbalancers/{lb}/statuses").json() == tree


def test_filters_fields_and_unknown_filter(api, lb, listener):
    r = api.get(f"/v2.0/lbaas/listeners?loadbalancer_id={lb}&fields=id&fields=protocol")
    assert r.json()["listeners"] == [{"id": listener, "protocol": "HTTP"}]
    assert api.get("/v2/lbaas/listeners?name=nope").json() == {"listeners": [],
                                                               "listeners_links": []}
    r = api.get("/v2/lbaas/listeners?pool_id=x")
    assert r.status_code == 400
    assert r.json()["faultstring"] == "One or more arguments are either duplicate or invalid"


def test_pagination_links(api, subnet_id):
    for i in range(3):
        api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet_id, "name": f"lb{i}"}})
    ids = [lb["id"] for lb in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]]
    assert len(ids) == 3
    page = api.get("/v2/lbaas/loadbalancers?limit=2").json()
    assert [lb["id"] for lb in page["loadbalancers"]] == ids[:2]
    nxt = [link for link in page["loadbalancers_links"] if link["rel"] == "next"][0]["href"]
    assert nxt.endswith(f"?limit=2&marker={ids[1]}")
    page2 = api.get(nxt.replace("http://testserver", "")).json()
    assert [lb["id"] for lb in page2["loadbalancers"]] == ids[2:]


def test_tag_filters(api, subnet_id):
    for name, tags in (("a", ["x", "y"]), ("b", ["x"]), ("c", [])):
        api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet_id, "name": name, "tags": tags}})

    def names(q):
        return sorted(lb["name"] for lb in api.get(
            f"/v2/lbaas/loadbalancers?{q}").json()["loadbalancers"])
    assert names("tags=x,y") == ["a"]
    assert names("tags-any=y&tags-any=x") == ["a", "b"]
    assert names("not-tags-any=x") == ["c"]


def test_unknown_ids_are_404_with_faultstring(api):
    r = api.get("/v2/lbaas/pools/4a3b5f9d-0000-4000-8000-000000000000")
    assert r.status_code == 404
    assert r.json()["faultstring"] == "Pool 4a3b5f9d-0000-4000-8000-000000000000 not found."


def test_network_api_resolves_by_name_and_id(api, subnet_id):
    assert api.get("/network/").json()["versions"][0]["id"] == "v2.0"
    subs = api.get(f"/network/v2.0/subnets?id={subnet_id}").json()["subnets"]
    assert subs[0]["name"] == "private-subnet" and subs[0]["cidr"] == "127.1.0.0/16"
    nets = api.get("/network/v2.0/networks?name=private").json()["networks"]
    assert nets[0]["subnets"] == [subnet_id]
    r = api.post("/network/v2.0/networks", json={"network": {"name": "other"}})
    net = r.json()["network"]["id"]
    r = api.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net, "cidr": "127.9.0.0/24", "name": "other-subnet"}})
    assert r.status_code == 201 and r.json()["subnet"]["gateway_ip"] == "127.9.0.1"
    assert api.delete(f"/network/v2.0/networks/{net}").status_code == 204
    assert api.get("/network/v2.0/networks?name=other").json()["networks"] == []


def test_lb_in_error_shows_its_reason_and_accepts_a_plain_update(api, lb, bus):
    from octolb.db import session as dbs
    from octolb.db.models import LoadBalancer

    assert "status_reason" not in api.get(f"/v2/lbaas/loadbalancers/{lb}").json()[
        "loadbalancer"]
    with dbs.transaction() as s:
        row = s.get(LoadBalancer, lb)
        row.provisioning_status, row.last_error = "ERROR", "amphora did not start: boom"
    doc = api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert doc["status_reason"] == "amphora did not start: boom"
    r = api.put(f"/v2/lbaas/loadbalancers/{lb}", json={"loadbalancer": {"name": "retry"}})
    assert r.status_code == 200
    assert r.json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    assert bus.sent[-1] == lb
    settle(lb)
    doc = api.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert doc["provisioning_status"] == "ACTIVE" and "status_reason" not in doc


def test_metrics_count_requests_and_load_balancers(api, lb):
    api.get("/v2/lbaas/loadbalancers")
    text = api.get("/metrics").text
    assert 'octolb_api_requests_total{code="200",method="GET"}' in text
    assert ('octolb_load_balancers{operating_status="ONLINE",provisioning_status="ACTIVE"} 1'
            in text.splitlines())


def test_providers_and_capabilities(api):
    assert api.get("/v2/lbaas/providers").json() == {"providers": [
        {"name": "amphora", "description": "The octolb amphora driver (HAProxy)."},
        {"name": "octavia", "description": "Deprecated alias of the amphora driver."}]}
    assert api.get("/v2/lbaas/providers?fields=name").json()["providers"][0] == {
        "name": "amphora"}
    caps = api.get("/v2.0/lbaas/providers/amphora/flavor_capabilities").json()
    assert [c["name"] for c in caps["flavor_capabilities"]] == [
        "loadbalancer_topology", "haproxy_maxconn", "haproxy_nbthread"]
    caps = api.get("/v2/lbaas/providers/amphora/availability_zone_capabilities").json()
    assert [c["name"] for c in caps["availability_zone_capabilities"]] == [
        "valid_vip_networks", "management_cidr"]
    r = api.get("/v2/lbaas/providers/f5/flavor_capabilities")
    assert r.status_code == 400 and r.json()["faultstring"] == "Provider 'f5' is not enabled."

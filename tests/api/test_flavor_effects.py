"""A flavor and an availability zone change what the worker builds: the HAProxy
configuration it pushes (haproxy_maxconn, haproxy_nbthread) and where the amphora's
management address comes from (management_cidr). The real reconcile runs here; only the
amphora processes are replaced by a recorder of what would be pushed to them."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from octolb import constants as c
from octolb.controller import reconcile
from octolb.db import session as dbs
from octolb.db.models import Amphora, LoadBalancer
from tests.unit.test_render import haproxy_check, section


class RunningCompute:
    """Every amphora 'runs' (nothing is started): reconcile adopts it as it is."""

    def is_running(self, amp_id: str) -> bool:
        return True

    def delete(self, amp_id: str, graceful: bool = True) -> None:
        pass


class RecordingClient:
    def __init__(self) -> None:
        self.configs: dict[str, str] = {}  # lb id -> last configuration pushed

    def wait_ready(self, ref, attempts: int = 1) -> None:
        pass

    def get_details(self, ref) -> dict:
        return {"rlimit_nofile": 1_000_000}

    def upload_config(self, ref, lb_id: str, text: str) -> None:
        self.configs[lb_id] = text

    def reload(self, ref, lb_id: str) -> None:
        pass

    def delete_lb(self, ref, lb_id: str) -> None:
        self.configs.pop(lb_id, None)


@pytest.fixture
def drivers():
    return reconcile.Drivers(compute=RunningCompute(), client=RecordingClient(), ca=None,
                             heartbeat_key="k", amphora_base=Path("/tmp/octolb-fx"))


def converge(lb_id: str, drivers) -> None:
    assert reconcile.reconcile(lb_id, drivers, owner="test:1:1") is True
    with dbs.transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        assert lb.provisioning_status == c.ACTIVE, lb.last_error


def http_lb(api, subnet_id, drivers, **kw) -> str:
    lb = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": subnet_id, **kw}}).json()["loadbalancer"]["id"]
    converge(lb, drivers)
    listener = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 8080}})
    assert listener.status_code == 201, listener.text
    converge(lb, drivers)
    pool = api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": listener.json()["listener"]["id"], "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN"}})
    assert pool.status_code == 201, pool.text
    converge(lb, drivers)
    return lb


@pytest.fixture
def flavor(api):
    data = {"loadbalancer_topology": "SINGLE", "haproxy_maxconn": 100, "haproxy_nbthread": 4}
    fp = api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": "p", "provider_name": "amphora", "flavor_data": json.dumps(data)}})
    return api.post("/v2/lbaas/flavors", json={"flavor": {
        "name": "busy", "flavor_profile_id": fp.json()["flavorprofile"]["id"]}}
    ).json()["flavor"]["id"]


@pytest.fixture
def zone(api):
    azp = api.post("/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": {
        "name": "p", "provider_name": "amphora",
        "availability_zone_data": '{"management_cidr": "127.3.0.0/24"}'}})
    return api.post("/v2/lbaas/availabilityzones", json={"availability_zone": {
        "name": "rack3", "availability_zone_profile_id":
            azp.json()["availability_zone_profile"]["id"]}}).json()["availability_zone"]["name"]


def global_value(text: str, key: str) -> str:
    [line] = [ln for ln in section(text, "global") if ln.startswith(key + " ")]
    return line.split()[1]


def amphora_address(lb_id: str) -> ipaddress.IPv4Address:
    with dbs.transaction() as s:
        [amp] = [a for a in s.get(LoadBalancer, lb_id).amphorae if a.status != c.DELETED]
        return ipaddress.ip_address(amp.lb_network_ip)


def test_flavor_sets_haproxy_threads_and_connection_ceiling(api, subnet_id, drivers, flavor,
                                                            tmp_path):
    plain = http_lb(api, subnet_id, drivers)
    flavored = http_lb(api, subnet_id, drivers, flavor_id=flavor)
    plain_cfg, cfg = drivers.client.configs[plain], drivers.client.configs[flavored]
    assert global_value(plain_cfg, "nbthread") == "1"
    assert global_value(plain_cfg, "maxconn") == "50000"
    assert global_value(cfg, "nbthread") == "4"
    assert global_value(cfg, "maxconn") == "100"
    [frontend] = [ln for ln in cfg.splitlines() if ln.startswith("frontend ")]
    assert "maxconn 100" in section(cfg, frontend)
    haproxy_check(cfg, tmp_path)


def test_zone_management_cidr_places_the_amphora_and_skips_default_spares(
        api, subnet_id, drivers, zone):
    with dbs.transaction() as s:  # a READY spare from the default management CIDR
        spare = reconcile.new_amphora(s, None, None)
        spare.status, spare_id = c.READY, spare.id
    in_zone = http_lb(api, subnet_id, drivers, availability_zone=zone)
    assert amphora_address(in_zone) in ipaddress.ip_network("127.3.0.0/24")
    with dbs.transaction() as s:
        assert s.get(Amphora, spare_id).load_balancer_id is None  # not taken by the zone LB
    plain = http_lb(api, subnet_id, drivers)
    assert amphora_address(plain) in ipaddress.ip_network("127.2.0.0/16")
    with dbs.transaction() as s:
        assert s.get(Amphora, spare_id).load_balancer_id == plain  # the spare served it


def test_zone_failover_replacement_stays_in_the_zone(api, subnet_id, drivers, zone):
    lb = http_lb(api, subnet_id, drivers, availability_zone=zone)
    before = amphora_address(lb)
    assert api.put(f"/v2/lbaas/loadbalancers/{lb}/failover").status_code == 202
    converge(lb, drivers)
    after = amphora_address(lb)
    assert after != before and after in ipaddress.ip_network("127.3.0.0/24")

"""Conformance with python-octaviaclient: every `openstack loadbalancer …` command the plugin
has, with `-f json`, against a live `octolb up` (no-op drivers: about the API, not the data
plane), asserting the fields the CLI shows.

The stock CLI runs unchanged, through its own entry point (`openstackclient.shell.main`) with
the same argv a shell would pass, in this process: a fresh interpreter per command would
cost ~1 s each for 80-odd commands. The clouds.yaml is the one `octolb up` writes."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import uuid
from importlib.metadata import entry_points

import pytest
from openstackclient import shell

from tests.harness import Octolb, wait_until

NOOP = ("[controller_worker]\ncompute_driver = noop\namphora_driver = noop\n"
        "network_driver = noop\n")
COMMANDS_SEEN: set[str] = set()


class Cli:
    def __init__(self, o: Octolb):
        self.o = o

    def __call__(self, *args: str, fmt: bool = True, ok: bool = True):
        known = [c.split() for c in _plugin_commands()]
        matches = [c for c in known if list(args[:len(c)]) == c]
        if matches:
            COMMANDS_SEEN.add(" ".join(max(matches, key=len)))
        argv = ["--os-cloud", "octolb", *args] + (["-f", "json"] if fmt else [])
        out, err = io.StringIO(), io.StringIO()
        old = os.environ.get("OS_CLIENT_CONFIG_FILE")
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.o.state_dir / "clouds.yaml")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = shell.main(argv)
                except SystemExit as exc:  # argparse refused the command line
                    rc = exc.code if isinstance(exc.code, int) else 2
        finally:
            if old is None:
                del os.environ["OS_CLIENT_CONFIG_FILE"]
            else:
                os.environ["OS_CLIENT_CONFIG_FILE"] = old
        if ok:
            assert rc == 0, f"openstack {' '.join(args)} -> {rc}\n{err.getvalue()}"
        else:
            assert rc != 0, f"openstack {' '.join(args)} unexpectedly succeeded"
            return err.getvalue()
        text = out.getvalue().strip()
        return json.loads(text) if fmt and text else text

    def active(self, lb: str) -> None:
        wait_until(lambda: self("loadbalancer", "show", lb)["provisioning_status"] == "ACTIVE",
                   30, what=f"{lb} ACTIVE")


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    o = Octolb(tmp_path_factory.mktemp("cli") / "state", extra_conf=NOOP).start()
    try:
        yield Cli(o)
    finally:
        o.close()


@pytest.fixture(scope="module")
def lb(cli):
    out = cli("loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", "private-subnet",
              "--description", "first", "--tag", "t1")
    assert out["provisioning_status"] == "PENDING_CREATE" and out["name"] == "lb1"
    cli.active("lb1")
    return out["id"]


def test_load_balancer_commands(cli, lb):
    show = cli("loadbalancer", "show", "lb1")
    assert show["id"] == lb and show["description"] == "first" and show["tags"] == ["t1"]
    assert show["vip_address"] and show["provider"] == "amphora"  # no-op network: invented
    assert lb in [x["id"] for x in cli("loadbalancer", "list")]
    assert [x["id"] for x in cli("loadbalancer", "list", "--tags", "t1")] == [lb]
    cli("loadbalancer", "set", "--description", "second", "--name", "lb1", lb, fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "show", lb)["description"] == "second"
    cli("loadbalancer", "unset", "--description", lb, fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "show", lb)["description"] == ""
    stats = cli("loadbalancer", "stats", "show", lb)
    assert stats["total_connections"] == 0 and stats["bytes_in"] == 0
    status = json.loads(cli("loadbalancer", "status", "show", lb, fmt=False))  # JSON already
    assert status["loadbalancer"]["id"] == lb
    cli("loadbalancer", "failover", lb, fmt=False)
    cli.active(lb)


def test_listener_pool_member_monitor_commands(cli, lb):
    lis = cli("loadbalancer", "listener", "create", "--name", "l1", "--protocol", "HTTP",
              "--protocol-port", "80", "--connection-limit", "100",
              "--allowed-cidr", "10.0.0.0/8", "--insert-headers", "X-Forwarded-For=true", lb)
    assert (lis["protocol"], lis["protocol_port"], lis["connection_limit"]) == \
        ("HTTP", 80, 100)
    cli.active(lb)
    cli("loadbalancer", "listener", "set", "--connection-limit", "200", "l1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "listener", "unset", "--allowed-cidrs", "l1", fmt=False)
    cli.active(lb)
    shown = cli("loadbalancer", "listener", "show", "l1")
    assert shown["connection_limit"] == 200 and not shown["allowed_cidrs"]
    assert [x["name"] for x in cli("loadbalancer", "listener", "list")] == ["l1"]
    assert cli("loadbalancer", "listener", "stats", "show", "l1")["total_connections"] == 0

    pool = cli("loadbalancer", "pool", "create", "--name", "p1", "--listener", "l1",
               "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
               "--session-persistence", "type=APP_COOKIE,cookie_name=sess")
    assert pool["lb_algorithm"] == "ROUND_ROBIN"
    cli.active(lb)
    cli("loadbalancer", "pool", "set", "--lb-algorithm", "LEAST_CONNECTIONS", "p1",
        fmt=False)
    cli.active(lb)
    cli("loadbalancer", "pool", "unset", "--description", "p1", fmt=False)
    cli.active(lb)
    shown = cli("loadbalancer", "pool", "show", "p1")
    assert shown["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert "sess" in str(shown["session_persistence"])
    assert [x["name"] for x in cli("loadbalancer", "pool", "list")] == ["p1"]

    m = cli("loadbalancer", "member", "create", "--name", "m1", "--address", "192.0.2.10",
            "--protocol-port", "8080", "--weight", "3", "p1")
    assert (m["address"], m["protocol_port"], m["weight"]) == ("192.0.2.10", 8080, 3)
    cli.active(lb)
    cli("loadbalancer", "member", "set", "--weight", "0", "p1", "m1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "member", "unset", "--weight", "p1", "m1", fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "member", "show", "p1", "m1")["weight"] == 1
    assert [x["name"] for x in cli("loadbalancer", "member", "list", "p1")] == ["m1"]

    hm = cli("loadbalancer", "healthmonitor", "create", "--name", "h1", "--delay", "3",
             "--timeout", "2", "--max-retries", "2", "--type", "HTTP", "--url-path", "/hc",
             "p1")
    assert (hm["type"], hm["delay"], hm["url_path"]) == ("HTTP", 3, "/hc")
    cli.active(lb)
    cli("loadbalancer", "healthmonitor", "set", "--delay", "4", "h1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "healthmonitor", "unset", "--url-path", "h1", fmt=False)
    cli.active(lb)
    shown = cli("loadbalancer", "healthmonitor", "show", "h1")
    assert shown["delay"] == 4 and shown["url_path"] == "/"
    assert [x["name"] for x in cli("loadbalancer", "healthmonitor", "list")] == ["h1"]

    pol = cli("loadbalancer", "l7policy", "create", "--name", "pol1", "--action",
              "REDIRECT_TO_POOL", "--redirect-pool", "p1", "l1")
    assert pol["action"] == "REDIRECT_TO_POOL"
    cli.active(lb)
    rule = cli("loadbalancer", "l7rule", "create", "--type", "PATH", "--compare-type",
               "STARTS_WITH", "--value", "/api", "pol1")
    assert rule["type"] == "PATH" and rule["value"] == "/api"
    cli.active(lb)
    cli("loadbalancer", "l7rule", "set", "--value", "/v2", "pol1", rule["id"], fmt=False)
    cli.active(lb)
    cli("loadbalancer", "l7rule", "unset", "--invert", "pol1", rule["id"], fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "l7rule", "show", "pol1", rule["id"])["value"] == "/v2"
    assert len(cli("loadbalancer", "l7rule", "list", "pol1")) == 1
    cli("loadbalancer", "l7policy", "set", "--action", "REDIRECT_TO_URL", "--redirect-url",
        "https://example.com/", "pol1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "l7policy", "unset", "--description", "pol1", fmt=False)
    cli.active(lb)
    shown = cli("loadbalancer", "l7policy", "show", "pol1")
    assert shown["action"] == "REDIRECT_TO_URL"
    assert shown["redirect_url"] == "https://example.com/"
    assert [x["name"] for x in cli("loadbalancer", "l7policy", "list")] == ["pol1"]

    # deletes, children first
    cli("loadbalancer", "l7rule", "delete", "pol1", rule["id"], fmt=False)
    cli.active(lb)
    cli("loadbalancer", "l7policy", "delete", "pol1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "healthmonitor", "delete", "h1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "member", "delete", "p1", "m1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "pool", "delete", "p1", fmt=False)
    cli.active(lb)
    cli("loadbalancer", "listener", "delete", "l1", fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "listener", "list") == []


def test_quota_commands(cli):
    project = uuid.uuid4().hex
    out = cli("loadbalancer", "quota", "set", "--loadbalancer", "3", "--pool", "7", project)
    assert out["load_balancer"] == 3 and out["pool"] == 7
    assert cli("loadbalancer", "quota", "show", project)["load_balancer"] == 3
    assert project in [q["project_id"] for q in cli("loadbalancer", "quota", "list")]
    cli("loadbalancer", "quota", "unset", "--pool", project, fmt=False)
    assert cli("loadbalancer", "quota", "show", project)["pool"] == -1
    cli("loadbalancer", "quota", "reset", project, fmt=False)
    assert cli("loadbalancer", "quota", "show", project)["load_balancer"] == -1
    assert cli("loadbalancer", "quota", "defaults", "show")["load_balancer"] == -1


def test_provider_flavor_and_zone_commands(cli):
    assert {"amphora", "octavia"} <= {p["name"] for p in cli("loadbalancer", "provider",
                                                             "list")}
    caps = cli("loadbalancer", "provider", "capability", "list", "amphora")
    assert "loadbalancer_topology" in {c["name"] for c in caps}

    fp = cli("loadbalancer", "flavorprofile", "create", "--name", "fp1", "--provider",
             "amphora", "--flavor-data", '{"loadbalancer_topology": "SINGLE"}')
    assert fp["provider_name"] == "amphora"
    cli("loadbalancer", "flavorprofile", "set", "--name", "fp2", "fp1", fmt=False)
    assert cli("loadbalancer", "flavorprofile", "show", "fp2")["id"] == fp["id"]
    assert [x["name"] for x in cli("loadbalancer", "flavorprofile", "list")] == ["fp2"]
    fl = cli("loadbalancer", "flavor", "create", "--name", "small", "--flavorprofile", "fp2",
             "--description", "d", "--enable")
    assert fl["enabled"] is True
    cli("loadbalancer", "flavor", "set", "--disable", "small", fmt=False)
    cli("loadbalancer", "flavor", "unset", "--description", "small", fmt=False)
    shown = cli("loadbalancer", "flavor", "show", "small")
    assert shown["enabled"] is False and shown["description"] == ""
    assert [x["name"] for x in cli("loadbalancer", "flavor", "list")] == ["small"]
    err = cli("loadbalancer", "create", "--vip-subnet-id", "private-subnet", "--flavor",
              "small", ok=False)
    assert "not allowed" in err or "flavor" in err.lower()

    azp = cli("loadbalancer", "availabilityzoneprofile", "create", "--name", "azp1",
              "--provider", "amphora", "--availability-zone-data", "{}")
    cli("loadbalancer", "availabilityzoneprofile", "set", "--name", "azp2", "azp1",
        fmt=False)
    assert cli("loadbalancer", "availabilityzoneprofile", "show", "azp2")["id"] == azp["id"]
    assert len(cli("loadbalancer", "availabilityzoneprofile", "list")) == 1
    az = cli("loadbalancer", "availabilityzone", "create", "--name", "az1",
             "--availabilityzoneprofile", "azp2", "--description", "zone")
    assert az["name"] == "az1"
    cli("loadbalancer", "availabilityzone", "set", "--disable", "az1", fmt=False)
    cli("loadbalancer", "availabilityzone", "unset", "--description", "az1", fmt=False)
    shown = cli("loadbalancer", "availabilityzone", "show", "az1")
    assert shown["enabled"] is False and shown["description"] == ""
    assert [x["name"] for x in cli("loadbalancer", "availabilityzone", "list")] == ["az1"]

    cli("loadbalancer", "availabilityzone", "delete", "az1", fmt=False)
    cli("loadbalancer", "availabilityzoneprofile", "delete", "azp2", fmt=False)
    cli("loadbalancer", "flavor", "delete", "small", fmt=False)
    cli("loadbalancer", "flavorprofile", "delete", "fp2", fmt=False)
    assert cli("loadbalancer", "flavor", "list") == []


def test_amphora_commands(cli, lb):
    amps = cli("loadbalancer", "amphora", "list", "--loadbalancer", lb)
    assert len(amps) == 1 and amps[0]["status"] == "ALLOCATED"
    amp = amps[0]["id"]
    assert cli("loadbalancer", "amphora", "show", amp)["loadbalancer_id"] == lb
    cli("loadbalancer", "amphora", "configure", amp, fmt=False)
    err = cli("loadbalancer", "amphora", "stats", "show", amp, ok=False)
    assert "not found" in err.lower()  # no heartbeat has ever reported statistics
    err = cli("loadbalancer", "amphora", "delete", amp, fmt=False, ok=False)
    assert "immutable" in err  # only an amphora in ERROR may be deleted
    cli("loadbalancer", "amphora", "failover", amp, fmt=False)
    cli.active(lb)
    assert cli("loadbalancer", "amphora", "list", "--loadbalancer", lb)[0]["id"] != amp


def test_delete_and_every_command_was_run(cli, lb):
    cli("loadbalancer", "delete", "--cascade", lb, fmt=False)
    wait_until(lambda: cli("loadbalancer", "list") == [], 30, what="LB gone")
    missing = sorted(set(_plugin_commands()) - COMMANDS_SEEN)
    assert not missing, f"commands the suite never ran: {missing}"


@functools.cache
def _plugin_commands() -> tuple[str, ...]:
    """Every command python-octaviaclient registers with the openstack CLI."""
    return tuple(ep.name.replace("_", " ")
                 for ep in entry_points(group="openstack.load_balancer.v2"))

"""Amphora agent pieces without HAProxy: imports, config, heartbeat content and sending."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from octolb.amphora.agent import cfgtext
from octolb.amphora.agent.config import ConfigError, load_config
from octolb.amphora.agent.heartbeat import HeartbeatSender, lb_status, sign
from octolb.amphora.agent.stats import parse_csv

LB = "11111111-1111-1111-1111-111111111111"
LISTENER = "22222222-2222-2222-2222-222222222222"
POOL = "33333333-3333-3333-3333-333333333333"
M1 = "44444444-4444-4444-4444-444444444444"
M2 = "55555555-5555-5555-5555-555555555555"

SHOW_STAT = f"""\
# pxname,svname,scur,stot,bin,bout,ereq,status,weight,
{LISTENER},FRONTEND,3,10,1000,2000,1,OPEN,,
{POOL}:{LISTENER},{M1},0,5,0,0,,UP,1,
{POOL}:{LISTENER},{M2},0,5,0,0,,UP,0,
{POOL}:{LISTENER},BACKEND,0,10,0,0,,UP,1,
prometheus-exporter,FRONTEND,0,7,0,0,0,OPEN,,

"""


def test_agent_imports_only_the_standard_library_and_itself():
    code = (
        "import sys, octolb.amphora.agent.__main__; "
        "print('\\n'.join(sorted(m for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(out.stdout.split())
    forbidden = {"sqlalchemy", "fastapi", "pydantic", "httpx", "cryptography", "jinja2",
                 "oslo_config", "octolb.db", "octolb.api", "octolb.controller",
                 "octolb.compute", "octolb.network", "octolb.certs", "octolb.amphora.client"}
    assert not {m for m in modules if m.split(".")[0] in forbidden or m in forbidden}


def _write_ini(path: Path, key_line: str = "heartbeat_key = s3cret") -> Path:
    path.write_text(f"""\
[amphora_agent]
amphora_id = {LB}
agent_server_cert = /x/server.pem
agent_server_ca = /x/client_ca.pem
[haproxy_amphora]
bind_host = 127.2.0.5
bind_port = 9443
base_path = /x/base
[health_manager]
controller_ip_port_list = 127.0.0.1:5555, [::1]:5556
heartbeat_interval = 2
{key_line}
""")
    return path


def test_config_reads_octavia_sections(tmp_path):
    conf = load_config(_write_ini(tmp_path / "agent.ini"))

    assert conf.bind_port == 9443 and conf.base_path == Path("/x/base")
    assert conf.controller_ip_port_list == ["127.0.0.1:5555", "[::1]:5556"]
    assert conf.heartbeat_interval == 2
    assert "s3cret" not in repr(conf)


def test_watchdog_interval_defaults_to_a_slow_scan_and_must_be_positive(tmp_path):
    assert load_config(_write_ini(tmp_path / "agent.ini")).watchdog_interval == 2.0
    path = _write_ini(tmp_path / "agent.ini")
    text = path.read_text()
    path.write_text(text.replace("[haproxy_amphora]\n",
                                 "[haproxy_amphora]\nwatchdog_interval = 3600\n"))
    assert load_config(path).watchdog_interval == 3600
    for bad in ("0", "-1", "nan", "soon"):
        path.write_text(text.replace("[haproxy_amphora]\n",
                                     f"[haproxy_amphora]\nwatchdog_interval = {bad}\n"))
        with pytest.raises(ConfigError, match="watchdog_interval|could not convert"):
            load_config(path)


def test_config_without_heartbeat_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="heartbeat_key"):
        load_config(_write_ini(tmp_path / "agent.ini", key_line=""))


def test_stats_socket_is_found_in_global_absolute_or_relative_to_base_path():
    base = Path("/base")
    absolute = "global\n    stats socket /run/lb.sock mode 0600 level admin\n"
    relative = "global\n    stats socket unix@lb.sock mode 0600 level admin\n"
    tcp_only = "global\n    stats socket ipv4@127.0.0.1:9999 level admin\n"

    assert cfgtext.stats_socket(absolute, base) == Path("/run/lb.sock")
    assert cfgtext.stats_socket(relative, base) == Path("/base/lb.sock")
    assert cfgtext.stats_socket(tcp_only, base) is None


def test_frontends_are_listed_with_their_mode():
    text = f"defaults\n    mode http\nfrontend {LISTENER}\n    bind 1.2.3.4:80\n" \
           f"frontend {POOL}\n    mode tcp\n    bind 1.2.3.4:81\n"

    assert cfgtext.frontends(text) == [
        {"status": "ACTIVE", "uuid": LISTENER, "type": "HTTP"},
        {"status": "ACTIVE", "uuid": POOL, "type": "TCP"},
    ]


def test_show_stat_becomes_listeners_and_pools_with_drain_for_weight_zero():
    listeners, pools, _ = lb_status(parse_csv(SHOW_STAT))

    assert listeners == {LISTENER: {"status": "OPEN", "stats": {"conns": 3}}}
    assert pools == {f"{POOL}:{LISTENER}": {"status": "UP", "members": {M1: "UP", M2: "DRAIN"}}}


def test_signed_heartbeat_is_zlib_json_with_hex_hmac_trailer():
    datagram = sign({"id": "a", "ver": 3}, "key")

    payload, trailer = datagram[:-64], datagram[-64:]
    assert trailer == hmac.new(b"key", payload, hashlib.sha256).hexdigest().encode()
    assert json.loads(zlib.decompress(payload)) == {"id": "a", "ver": 3}


class FakeHAProxy:
    def __init__(self, base_path: Path) -> None:
        self.base_path = base_path

    def load_balancers(self) -> list[str]:
        return [LB]

    def is_running(self, lb_id: str) -> bool:
        return True


def _rows(stot: int) -> list[dict[str, str]]:
    return [{"pxname": LISTENER, "svname": "FRONTEND", "scur": "0", "stot": str(stot),
             "bin": str(stot * 100), "bout": "0", "ereq": "0", "status": "OPEN"}]


def test_counters_are_deltas_persisted_across_agent_restarts_and_reset_safe(tmp_path):
    counts = iter([10, 12, 3])

    def sender() -> HeartbeatSender:
        return HeartbeatSender("amp", "k", [], 1, FakeHAProxy(tmp_path),
                               read_stats=lambda lb_id: _rows(next(counts)))

    def totconns(message: dict) -> int:
        return message["listeners"][LISTENER]["stats"]["totconns"]

    assert totconns(sender().build_message()) == 10
    restarted = sender()
    assert totconns(restarted.build_message()) == 2
    assert totconns(restarted.build_message()) == 3  # counter went back: HAProxy restarted
    assert (tmp_path / "stats_counters.json").is_file()


def test_heartbeats_rotate_over_destinations_and_survive_errors(tmp_path):
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for r in receivers:
        r.bind(("127.0.0.1", 0))
        r.settimeout(5)
    failures = iter([RuntimeError("boom")])

    def read_stats(lb_id: str) -> list[dict[str, str]]:
        for exc in failures:
            raise exc
        return _rows(1)

    destinations = [f"127.0.0.1:{r.getsockname()[1]}" for r in receivers]
    hb = HeartbeatSender("amp", "k", destinations, 0.01, FakeHAProxy(tmp_path), read_stats)
    hb.start()
    try:
        first = [json.loads(zlib.decompress(r.recv(65536)[:-64])) for r in receivers]
        second = [json.loads(zlib.decompress(r.recv(65536)[:-64])) for r in receivers]
    finally:
        hb.stop()
        for r in receivers:
            r.close()

    seqs = [m["seq"] for m in first + second]
    assert seqs == [0, 1, 2, 3]  # the failed build sent nothing and consumed no seq
    assert all(m["ver"] == 3 and m["id"] == "amp" for m in first + second)


def test_heartbeat_sender_stops_promptly(tmp_path):
    hb = HeartbeatSender("amp", "k", [], 60, FakeHAProxy(tmp_path), lambda lb_id: [])
    hb.start()

    hb.stop()  # does not wait out the 60 s interval

    assert hb._thread is not None and not hb._thread.is_alive()


@pytest.fixture
def app(tmp_path):
    from octolb.amphora.agent.haproxy import HAProxyManager
    from octolb.amphora.agent.server import AgentApp

    return AgentApp(HAProxyManager(tmp_path, "/usr/sbin/haproxy", LB), tmp_path / "server.pem")


def _json(response) -> object:
    return json.loads(response.body)


def test_api_version_discovery(app):
    response = app.handle("GET", "/", b"")

    assert (response.status, _json(response)) == (200, {"api_version": "1.0"})


def test_unknown_path_and_wrong_method_are_http_errors(app):
    missing = app.handle("GET", "/1.0/nothing", b"")
    wrong = app.handle("DELETE", "/1.0/info", b"")

    assert (missing.status, _json(missing)) == (404, {"error": "Not Found", "http_code": 404})
    assert wrong.status == 405 and _json(wrong)["http_code"] == 405


def test_ids_that_could_escape_base_path_match_no_route(app, tmp_path):
    response = app.handle("PUT", f"/1.0/loadbalancer/{LB}/../../../../etc/haproxy", b"x")

    assert response.status == 404
    assert list(tmp_path.iterdir()) == []


def test_unknown_action_is_rejected(app):
    response = app.handle("PUT", f"/1.0/loadbalancer/{LB}/explode", b"")

    assert response.status == 400
    assert _json(response) == {"message": "Invalid Request", "details": "Unknown action: explode"}


def test_action_on_unknown_load_balancer_is_not_found(app):
    response = app.handle("PUT", f"/1.0/loadbalancer/{LB}/reload", b"")

    assert response.status == 404
    assert _json(response)["message"] == "Loadbalancer Not Found"

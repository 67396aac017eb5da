"""PING health monitors and listener allowed_cidrs in the rendered HAProxy configuration,
proven with `haproxy -c` and, for behaviour, with a running HAProxy on 127/8; and the
agent's PING script, which HAProxy runs for each check."""

from __future__ import annotations

import socket
import subprocess
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from octolb import constants as c
from octolb.amphora.agent import haproxy as agent_haproxy
from octolb.amphora.render import RenderError, render_haproxy_config
from octolb.amphora.render import backend as render_backend
from tests.unit.test_render import (
    AMP_ID,
    add_hm,
    add_listener,
    add_member,
    add_pool,
    fd_limit,
    free_port,
    http_lb,
    make_lb,
    render_checked,
    running_haproxy,
    section,
    server_line,
    stats_command,
)
from tests.unit.test_render import base_path as base_path  # noqa: F401 - fixture


def global_section(text: str) -> list[str]:
    return section(text, "global")


def frontend_section(text: str, listener) -> list[str]:
    return section(text, f"frontend {listener.id}")


def backend_section(text: str, pool, listener) -> list[str]:
    return section(text, f"backend {pool.id}:{listener.id}")


def server_status(base: str, lb_id: str, member_id: str) -> str:
    """`status` of one server in `show stat` (UP, DOWN, ...)."""
    lines = stats_command(base, lb_id, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("svname") == member_id:
            return row["status"]
    raise AssertionError(f"server {member_id} not in show stat")


def wait_status(base: str, lb_id: str, member_id: str, expected: str,
                timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = server_status(base, lb_id, member_id)
        except OSError:
            status = None
        if status == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"server {member_id}: {status}, expected {expected}")


# --- PING: rendering ---

def test_ping_monitor_runs_the_agents_script_as_an_external_check(base_path):
    lb, listener, pool, member = http_lb()
    add_hm(pool, type=c.HM_PING, delay=4, timeout=2, rise_threshold=2, fall_threshold=3)
    text = render_checked(lb, base_path)
    backend = backend_section(text, pool, listener)
    assert "option external-check" in backend
    assert f"external-check command {base_path}/ping-wrapper.sh" in backend
    assert "timeout check 2s" in backend
    assert not any(line.startswith(("option httpchk", "http-check")) for line in backend)
    assert server_line(text, member.id).endswith(
        "check inter 4s fastinter 500 fall 3 rise 2")


def test_ping_monitor_allows_forking_in_global(base_path):
    lb, _, pool, _ = http_lb()
    add_hm(pool, type=c.HM_PING)
    glob = global_section(render_checked(lb, base_path))
    assert "external-check" in glob and "insecure-fork-wanted" in glob


@pytest.mark.parametrize("hm_type", [c.HM_HTTP, c.HM_TCP, None])
def test_without_ping_monitor_global_forbids_forking(base_path, hm_type):
    lb, _, pool, _ = http_lb()
    if hm_type:
        add_hm(pool, type=hm_type)
    glob = global_section(render_checked(lb, base_path))
    assert "external-check" not in glob and "insecure-fork-wanted" not in glob


@pytest.mark.parametrize("where", ["monitor", "pool", "listener"])
def test_ping_monitor_that_is_not_rendered_does_not_allow_forking(base_path, where):
    lb, listener, pool, _ = http_lb()
    hm = add_hm(pool, type=c.HM_PING)
    {"monitor": hm, "pool": pool, "listener": listener}[where].enabled = False
    add_listener(lb, protocol_port=81)  # something is still served
    text = render_checked(lb, base_path)
    assert "external-check" not in text and "insecure-fork-wanted" not in text


def test_ping_monitor_on_a_tcp_pool(base_path):
    lb = make_lb()
    listener = add_listener(lb, protocol=c.TCP)
    pool = add_pool(lb, listener, protocol=c.TCP)
    add_member(pool)
    add_hm(pool, type=c.HM_PING)
    assert "option external-check" in backend_section(render_checked(lb, base_path), pool,
                                                      listener)


def test_renderer_and_agent_agree_on_the_script_name():
    assert render_backend.PING_SCRIPT == agent_haproxy.PING_SCRIPT


# --- PING: the agent's script, run as HAProxy runs it ---

@pytest.fixture
def ping_script(tmp_path) -> Path:
    manager = agent_haproxy.HAProxyManager(tmp_path, "/usr/sbin/haproxy", AMP_ID)
    manager.install_helpers()
    return tmp_path / agent_haproxy.PING_SCRIPT


def run_check(script: Path, address: str) -> int:
    """As HAProxy 2.6 runs an external check: empty environment but HAPROXY_*,
    arguments `NOT_USED NOT_USED <addr> <port>`."""
    return subprocess.run([str(script), "NOT_USED", "NOT_USED", address, "80"],
                          env={"HAPROXY_SERVER_ADDR": address, "HAPROXY_SERVER_PORT": "80"},
                          timeout=10, check=False).returncode


def test_agent_writes_an_executable_ping_script_into_its_base_path(ping_script):
    assert ping_script.read_text() == agent_haproxy.PING_SCRIPT_TEXT
    assert ping_script.stat().st_mode & 0o777 == 0o755


def test_ping_script_succeeds_for_a_local_address(ping_script):
    assert run_check(ping_script, "127.0.0.1") == 0


@pytest.mark.parametrize("address", [
    "$(touch {marker})", "`touch {marker}`", "127.0.0.1;touch {marker}", "-f", "",
    "127.0.0.1 -c 9", "127.0.0.1\ntouch {marker}"])
def test_ping_script_refuses_what_is_not_an_address(ping_script, tmp_path, address):
    marker = tmp_path / "pwned"
    assert run_check(ping_script, address.format(marker=marker)) != 0
    assert not marker.exists()


def test_install_helpers_is_idempotent_and_repairs_a_changed_script(ping_script):
    manager = agent_haproxy.HAProxyManager(ping_script.parent, "/usr/sbin/haproxy", AMP_ID)
    ping_script.write_text("#!/bin/sh\nexit 0\n")
    manager.install_helpers()
    assert ping_script.read_text() == agent_haproxy.PING_SCRIPT_TEXT
    before = ping_script.stat().st_mtime_ns
    manager.install_helpers()
    assert ping_script.stat().st_mtime_ns == before


def test_running_haproxy_marks_a_pingable_member_up_with_no_port_open(base_path):
    """The check is the ping, not a connection: nothing listens on the member's port,
    a TCP check would mark it DOWN."""
    agent_haproxy.HAProxyManager(Path(base_path), "/usr/sbin/haproxy",
                                 AMP_ID).install_helpers()
    port = free_port()
    lb, listener, pool, member = http_lb(protocol_port=port)
    lb.vip_address = "127.0.0.1"
    member.ip_address, member.protocol_port = "127.0.0.1", free_port()
    add_hm(pool, type=c.HM_PING, delay=1, timeout=2, rise_threshold=1, fall_threshold=1)
    text = render_checked(lb, base_path, max_fds=fd_limit())
    with running_haproxy(text, base_path, port) as proc:
        assert proc.poll() is None, proc.stdout.read()
        wait_status(base_path, lb.id, member.id, "UP")


def test_running_haproxy_marks_a_member_down_when_the_ping_fails(base_path):
    """A script that cannot ping (here: the script is missing) puts the member DOWN."""
    port = free_port()
    lb, listener, pool, member = http_lb(protocol_port=port)
    lb.vip_address = "127.0.0.1"
    member.ip_address = "127.0.0.1"
    add_hm(pool, type=c.HM_PING, delay=1, timeout=2, rise_threshold=1, fall_threshold=1)
    text = render_checked(lb, base_path, max_fds=fd_limit())
    with running_haproxy(text, base_path, port) as proc:
        assert proc.poll() is None, proc.stdout.read()
        wait_status(base_path, lb.id, member.id, "DOWN")


# --- allowed_cidrs: rendering ---

def test_allowed_cidrs_reject_other_sources_first_thing_in_the_frontend(base_path):
    lb, listener, _, _ = http_lb(allowed_cidrs=["192.0.2.0/24", "10.1.0.0/16"])
    frontend = frontend_section(render_checked(lb, base_path), listener)
    assert frontend[:2] == [
        "acl octolb-allowed-cidrs src 192.0.2.0/24 10.1.0.0/16",
        "tcp-request connection reject if !octolb-allowed-cidrs",
    ]


@pytest.mark.parametrize("cidrs", [None, []])
def test_no_allowed_cidrs_lets_every_source_in(base_path, cidrs):
    lb, _, _, _ = http_lb(allowed_cidrs=cidrs)
    text = render_checked(lb, base_path)
    assert "tcp-request connection" not in text and "octolb-allowed-cidrs" not in text


def test_allowed_cidrs_are_normalised_and_deduplicated(base_path):
    lb, listener, _, _ = http_lb(allowed_cidrs=[
        "192.0.2.7/24", "192.0.2.0/24", "10.0.0.1", "2001:DB8:0:0::1/64"])
    frontend = frontend_section(render_checked(lb, base_path), listener)
    assert frontend[0] == ("acl octolb-allowed-cidrs src 192.0.2.0/24 10.0.0.1/32 "
                           "2001:db8::/64")


def test_many_allowed_cidrs_are_split_over_several_acl_lines(base_path):
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(100)]
    lb, listener, _, _ = http_lb(allowed_cidrs=cidrs)
    frontend = frontend_section(render_checked(lb, base_path), listener)
    acls = [line for line in frontend if line.startswith("acl octolb-allowed-cidrs src ")]
    assert len(acls) == 4
    assert [w for line in acls for w in line.split()[3:]] == cidrs


def test_allowed_cidrs_apply_to_tcp_listeners_too(base_path):
    lb = make_lb()
    listener = add_listener(lb, protocol=c.TCP, allowed_cidrs=["198.51.100.0/24"])
    add_member(add_pool(lb, listener, protocol=c.TCP))
    frontend = frontend_section(render_checked(lb, base_path), listener)
    assert "tcp-request connection reject if !octolb-allowed-cidrs" in frontend


@pytest.mark.parametrize("bad", [
    "10.0.0.0/33", "not-a-cidr", "10.0.0.0/8\n    bind 0.0.0.0:1", "10.0.0.0/8 0.0.0.0/0",
    "fe80::1%eth0/64", "10.0.0.0/8#", 42])
def test_bad_allowed_cidrs_are_refused(bad):
    lb, _, _, _ = http_lb(allowed_cidrs=[bad])
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


def test_allowed_cidrs_not_a_list_is_refused():
    lb, _, _, _ = http_lb(allowed_cidrs="10.0.0.0/8")
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


# --- allowed_cidrs: behaviour of a running HAProxy ---

class _Answer(BaseHTTPRequestHandler):
    clients: list[str] = []

    def do_GET(self):  # noqa: N802
        self.clients.append(self.client_address[0])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args):
        pass


def get_from(source: str, port: int) -> bytes:
    """What a GET from `source` to 127.0.0.1:port receives before the connection ends
    (a refused client sees its connection closed or reset, and no byte)."""
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=(source, 0)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while chunk := s.recv(4096):
                data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return data


def test_running_haproxy_serves_allowed_sources_only(base_path):
    member = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    Thread(target=member.serve_forever, args=(0.1,), daemon=True).start()
    try:
        port = free_port()
        lb, _, _, m = http_lb(protocol_port=port, allowed_cidrs=["127.0.0.0/30"])
        lb.vip_address = "127.0.0.1"
        m.ip_address, m.protocol_port = "127.0.0.1", member.server_address[1]
        text = render_checked(lb, base_path, max_fds=fd_limit())
        with running_haproxy(text, base_path, port) as proc:
            assert proc.poll() is None, proc.stdout.read()
            assert get_from("127.0.0.2", port).startswith(b"HTTP/1.0 200")
            assert get_from("127.0.0.9", port) == b""
            assert get_from("127.0.0.3", port).startswith(b"HTTP/1.0 200")
        assert len(_Answer.clients) == 2  # the refused client's request never reached it
    finally:
        member.shutdown()
        member.server_close()

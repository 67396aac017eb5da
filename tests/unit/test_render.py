"""The HAProxy renderer, specified feature by feature and proven against real HAProxy.

Every configuration rendered here goes through `haproxy -c` (and must produce no
warning); the escaping rules and the maxconn clamp are proven by running HAProxy.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from octolb import constants as c
from octolb.amphora.render import (
    RenderError,
    UnsupportedFeature,
    config_hash,
    max_conn_for_fds,
    render_haproxy_config,
)
from octolb.amphora.render import values as v
from octolb.db import models as m

HAPROXY = "/usr/sbin/haproxy"
AMP_ID = "0b6b3a2e-6c3e-4c59-9d2e-5f1f8f7d1a01"


# --- graph builders: real ORM instances, never attached to a session ---

def new_id() -> str:
    return str(uuid.uuid4())


def make_lb(**kw) -> m.LoadBalancer:
    fields = dict(id=new_id(), project_id="4f6b8c0e2a1d4e5f9a7b3c2d1e0f9a8b", enabled=True,
                  provisioning_status=c.ACTIVE, operating_status=c.ONLINE,
                  topology=c.TOPOLOGY_SINGLE, vip_address="10.0.0.10")
    fields.update(kw)
    return m.LoadBalancer(**fields)


def add_listener(lb: m.LoadBalancer, **kw) -> m.Listener:
    fields = dict(id=new_id(), protocol=c.HTTP, protocol_port=80, connection_limit=-1,
                  enabled=True, provisioning_status=c.ACTIVE, operating_status=c.ONLINE,
                  insert_headers={}, timeout_client_data=50000, timeout_member_connect=5000,
                  timeout_member_data=50000, timeout_tcp_inspect=0)
    fields.update(kw)
    listener = m.Listener(**fields)
    lb.listeners.append(listener)
    return listener


def add_pool(lb: m.LoadBalancer, listener: m.Listener | None = None, **kw) -> m.Pool:
    fields = dict(id=new_id(), protocol=c.HTTP, lb_algorithm=c.ROUND_ROBIN, enabled=True,
                  provisioning_status=c.ACTIVE, operating_status=c.ONLINE)
    fields.update(kw)
    pool = m.Pool(**fields)
    lb.pools.append(pool)
    if listener is not None:
        listener.default_pool = pool
    return pool


def add_member(pool: m.Pool, **kw) -> m.Member:
    fields = dict(id=new_id(), ip_address="10.0.1.11", protocol_port=8080, weight=1,
                  enabled=True, backup=False, provisioning_status=c.ACTIVE,
                  operating_status=c.ONLINE)
    fields.update(kw)
    member = m.Member(**fields)
    pool.members.append(member)
    return member


def add_hm(pool: m.Pool, **kw) -> m.HealthMonitor:
    fields = dict(id=new_id(), type=c.HM_HTTP, delay=5, timeout=3, rise_threshold=2,
                  fall_threshold=3, enabled=True, provisioning_status=c.ACTIVE,
                  operating_status=c.ONLINE)
    if kw.get("type", c.HM_HTTP) in (c.HM_HTTP, c.HM_HTTPS):
        fields.update(http_method="GET", url_path="/", expected_codes="200")
    fields.update(kw)
    hm = m.HealthMonitor(**fields)
    pool.health_monitor = hm
    return hm


def http_lb(**listener_kw) -> tuple[m.LoadBalancer, m.Listener, m.Pool, m.Member]:
    """The everyday shape: one HTTP listener, its default pool, one member."""
    lb = make_lb()
    listener = add_listener(lb, **listener_kw)
    pool = add_pool(lb, listener)
    member = add_member(pool)
    return lb, listener, pool, member


# --- HAProxy helpers ---

@pytest.fixture
def base_path() -> Iterator[str]:
    """A short directory for the stats socket: a unix socket path is limited to 107
    bytes, which pytest's tmp_path plus `/<uuid>.sock` can exceed."""
    path = tempfile.mkdtemp(prefix="octolb-r", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def require_haproxy() -> None:
    if not os.path.exists(HAPROXY):
        pytest.skip(f"!!! {HAPROXY} is not installed: rendered configurations were NOT "
                    f"validated by HAProxy !!!")


def haproxy_check(text: str, directory: str | Path) -> None:
    """`haproxy -c` accepts the configuration, without a single warning."""
    require_haproxy()
    cfg = Path(directory) / f"check-{new_id()}.cfg"
    cfg.write_text(text)
    proc = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                          timeout=30)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"haproxy -c failed:\n{output}\n--- config ---\n{text}"
    assert "[WARNING]" not in output and "[ALERT]" not in output, (
        f"haproxy -c warned:\n{output}\n--- config ---\n{text}")


def render_checked(lb, base: str, **kw) -> str:
    """Render with the test defaults and prove the result with `haproxy -c`."""
    text = render_haproxy_config(lb, amphora_id=kw.pop("amphora_id", AMP_ID),
                                 base_path=base, **kw)
    haproxy_check(text, base)
    return text


def section(text: str, header: str) -> list[str]:
    """The stripped directive lines of the section whose header line is `header`."""
    lines = text.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        body.append(line.strip())
    return body


def server_line(text: str, member_id: str) -> str:
    [line] = [ln.strip() for ln in text.splitlines()
              if ln.strip().startswith(f"server {member_id} ")]
    return line


def fd_limit() -> int:
    """20000 open files, as on the project machines (or less if this one allows less)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 20000 if hard == resource.RLIM_INFINITY else min(20000, hard)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def running_haproxy(text: str, directory: str, port: int, nofile: int | None = None
                    ) -> Iterator[subprocess.Popen]:
    """HAProxy in the foreground on `text`; yields once it listens on `port` (or has
    exited); always stopped by its own PID."""
    require_haproxy()
    cfg = Path(directory) / "run.cfg"
    cfg.write_text(text)

    def limit_fds() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], cwd=directory,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=limit_fds)
    try:
        wait_listening(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def stats_command(base: str, lb_id: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(f"{base}/{lb_id}.sock")
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


# --- global and defaults ---

def test_global_has_stats_socket_at_the_agreed_path(base_path):
    lb, *_ = http_lb()
    text = render_checked(lb, base_path)
    assert f"stats socket unix@{lb.id}.sock mode 0600 level admin" in section(
        text, "global")


def test_global_runs_one_thread_with_hard_stop_after(base_path):
    lb, *_ = http_lb()
    glob = section(render_checked(lb, base_path), "global")
    assert "nbthread 1" in glob
    assert "hard-stop-after 30s" in glob
    assert "hard-stop-after 2m" in section(
        render_checked(lb, base_path, hard_stop_after="2m"), "global")


def test_no_daemon_user_group_syslog_or_splice(base_path):
    lb, *_ = http_lb()
    text = render_checked(lb, base_path)
    for word in ("daemon", "user ", "group ", "/run/rsyslog", "splice", "external-check"):
        assert word not in text


def test_defaults_without_connection_logging_say_no_log(base_path):
    lb, listener, *_ = http_lb()
    text = render_checked(lb, base_path)
    assert section(text, "defaults") == [
        "no log", "retries 3", "option redispatch", "option http-keep-alive"]
    assert not any(line.startswith("log") for line in section(text, f"frontend {listener.id}"))


def test_connection_logging_logs_to_the_target_with_octavia_format(base_path):
    lb, listener, *_ = http_lb()
    text = render_checked(lb, base_path, connection_logging=True,
                          log_target="127.0.0.1:10514", log_facility=2)
    assert "log 127.0.0.1:10514 local2" in section(text, "global")
    assert section(text, "defaults")[0] == "log global"
    assert (f"log-format {lb.project_id}\\ {lb.id}\\ %f\\ %ci\\ %cp\\ %t\\ %{{+Q}}r\\ %ST\\ "
            f"%B\\ %U\\ %[ssl_c_verify]\\ %{{+Q}}[ssl_c_s_dn]\\ %b\\ %s\\ %Tt\\ %tsc"
            ) in section(text, f"frontend {listener.id}")


def test_tcp_listener_log_format_drops_http_only_fields(base_path):
    lb, listener, pool, _ = http_lb(protocol=c.TCP)
    pool.protocol = c.TCP
    text = render_checked(lb, base_path, connection_logging=True, log_target="/dev/log")
    [fmt] = [ln for ln in section(text, f"frontend {listener.id}")
             if ln.startswith("log-format")]
    assert "%{+Q}r" not in fmt and "%ST" not in fmt
    assert "%t\\ -\\ -\\ %B" in fmt


def test_connection_logging_without_a_target_is_refused(base_path):
    lb, *_ = http_lb()
    with pytest.raises(RenderError, match="log_target"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                              connection_logging=True)


# --- maxconn: Octavia's sum rule, clamped to the open-files limit ---

def test_global_maxconn_is_the_sum_of_listener_limits(base_path):
    lb = make_lb()
    add_listener(lb, protocol_port=80, connection_limit=100)
    add_listener(lb, protocol_port=81, connection_limit=250)
    assert "maxconn 350" in section(render_checked(lb, base_path), "global")


def test_unlimited_listeners_use_the_default_connection_limit(base_path):
    """-1, unset and 0 all mean the default, as in Octavia (`if connection_limit and
    connection_limit > -1`); HAProxy would read `maxconn 0` as no limit of its own."""
    lb = make_lb()
    first = add_listener(lb, protocol_port=80, connection_limit=-1)
    add_listener(lb, protocol_port=81, connection_limit=None)
    zero = add_listener(lb, protocol_port=82, connection_limit=0)
    text = render_checked(lb, base_path, default_connection_limit=3000)
    assert "maxconn 9000" in section(text, "global")
    assert "maxconn 3000" in section(text, f"frontend {first.id}")
    assert "maxconn 3000" in section(text, f"frontend {zero.id}")


def test_connection_limits_beyond_one_million_are_clamped_not_refused(base_path):
    """The API accepts any connection_limit HAProxy can hold; Octavia's sum rule then
    caps the global maxconn at one million, and no frontend gets more than the global."""
    lb = make_lb()
    big = add_listener(lb, protocol_port=80, connection_limit=5_000_000)
    add_listener(lb, protocol_port=81, connection_limit=100)
    text = render_checked(lb, base_path)
    assert "maxconn 1000000" in section(text, "global")
    assert "maxconn 1000000" in section(text, f"frontend {big.id}")
    with pytest.raises(RenderError, match="connection_limit"):
        big.connection_limit = 2**31
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)


def test_global_maxconn_falls_back_to_one_million_without_listeners():
    lb = make_lb(enabled=False)
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/var/lib/octolb")
    assert "maxconn 1000000" in section(text, "global")


def test_global_maxconn_is_clamped_to_the_open_files_limit(base_path):
    lb = make_lb()
    small = add_listener(lb, protocol_port=80, connection_limit=100)
    big = add_listener(lb, protocol_port=81, connection_limit=-1)
    add_pool(lb, small)
    add_pool(lb, big)
    text = render_checked(lb, base_path, max_fds=20000)
    [glob] = [ln for ln in section(text, "global") if ln.startswith("maxconn")]
    maxconn = int(glob.split()[1])
    assert maxconn <= (20000 - 30) // 2
    assert maxconn == max_conn_for_fds(20000, listening_sockets=3)
    # a frontend and a backend never promise more than the process can hold
    assert f"maxconn {maxconn}" in section(text, f"frontend {big.id}")
    assert f"fullconn {maxconn}" in section(text, f"backend {big.default_pool.id}:{big.id}")
    assert "maxconn 100" in section(text, f"frontend {small.id}")
    assert "fullconn 100" in section(text, f"backend {small.default_pool.id}:{small.id}")


def test_max_fds_too_small_is_refused():
    lb, *_ = http_lb()
    with pytest.raises(RenderError, match="max_fds"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x", max_fds=20)


def _octavia_defaults_lb(port: int) -> m.LoadBalancer:
    lb = make_lb(vip_address="127.0.0.1")
    listener = add_listener(lb, protocol_port=port, connection_limit=-1)
    pool = add_pool(lb, listener)
    add_member(pool, ip_address="127.0.0.1", protocol_port=9)
    return lb


def test_clamped_config_with_octavia_limits_starts_under_20000_fds(base_path):
    require_haproxy()
    nofile = fd_limit()
    port = free_port()
    text = render_checked(_octavia_defaults_lb(port), base_path, max_fds=nofile)
    with running_haproxy(text, base_path, port, nofile=nofile) as proc:
        assert proc.poll() is None, f"HAProxy did not start:\n{proc.communicate()[0]}"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_unclamped_octavia_limits_do_not_start_under_20000_fds(base_path):
    """The control for the test above: without the clamp, maxconn 50000 needs ~100030
    descriptors, HAProxy refuses to start, and `haproxy -c` does not notice."""
    require_haproxy()
    port = free_port()
    text = render_checked(_octavia_defaults_lb(port), base_path)  # haproxy -c: fine
    assert "maxconn 50000" in section(text, "global")
    with running_haproxy(text, base_path, port, nofile=20000) as proc:
        if proc.poll() is None:
            pytest.skip("HAProxy raised its own FD limit here (CAP_SYS_RESOURCE): the "
                        "limit this clamp guards against does not exist on this machine")
        assert "Cannot raise FD limit" in proc.communicate()[0]


# --- what gets rendered at all ---

def test_disabled_load_balancer_renders_no_frontend_or_backend(base_path):
    lb, *_ = http_lb()
    lb.enabled = False
    text = render_checked(lb, base_path)
    assert "frontend" not in text and "backend" not in text
    assert "stats socket" in text


def test_disabled_load_balancer_still_starts(base_path):
    """No proxies at all: HAProxy keeps running on its stats socket alone."""
    require_haproxy()
    lb, *_ = http_lb()
    lb.enabled = False
    nofile = fd_limit()
    text = render_checked(lb, base_path, max_fds=nofile)
    cfg = Path(base_path) / "run.cfg"
    cfg.write_text(text)
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], cwd=base_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: resource.setrlimit(
                                resource.RLIMIT_NOFILE, (nofile, nofile)))
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"{base_path}/{lb.id}.sock") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None
        assert "Name" in stats_command(base_path, lb.id, "show info")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize("change", [
    {"enabled": False}, {"provisioning_status": c.PENDING_DELETE}])
def test_disabled_or_deleted_listener_is_skipped_with_its_backends(base_path, change):
    lb, listener, pool, _ = http_lb()
    kept = add_listener(lb, protocol_port=81)
    for key, value in change.items():
        setattr(listener, key, value)
    text = render_checked(lb, base_path)
    assert listener.id not in text
    assert f"frontend {kept.id}" in text


@pytest.mark.parametrize("change", [
    {"enabled": False}, {"provisioning_status": c.PENDING_DELETE}])
def test_disabled_or_deleted_pool_has_no_backend_and_no_reference(base_path, change):
    lb, listener, pool, _ = http_lb()
    for key, value in change.items():
        setattr(pool, key, value)
    text = render_checked(lb, base_path)
    assert pool.id not in text
    assert not any(ln.startswith("default_backend")
                   for ln in section(text, f"frontend {listener.id}"))


def test_listener_frontend_binds_the_vip_and_names_its_default_backend(base_path):
    lb, listener, pool, _ = http_lb(protocol_port=8080)
    fe = section(render_checked(lb, base_path), f"frontend {listener.id}")
    assert fe[:4] == ["maxconn 50000", "bind 10.0.0.10:8080", "mode http",
                      "option idle-close-on-response"]
    assert f"default_backend {pool.id}:{listener.id}" in fe
    assert "timeout client 50000" in fe


def test_pool_shared_by_two_listeners_gets_one_backend_per_listener(base_path):
    lb = make_lb()
    first = add_listener(lb, protocol_port=80)
    second = add_listener(lb, protocol_port=81)
    pool = add_pool(lb, first)
    second.default_pool = pool
    add_member(pool)
    text = render_checked(lb, base_path)
    assert f"backend {pool.id}:{first.id}" in text
    assert f"backend {pool.id}:{second.id}" in text


def test_member_pending_delete_is_skipped(base_path):
    lb, listener, pool, member = http_lb()
    gone = add_member(pool, ip_address="10.0.1.12", provisioning_status=c.PENDING_DELETE)
    text = render_checked(lb, base_path)
    assert f"server {member.id} " in text
    assert gone.id not in text


def test_disabled_member_gets_disabled(base_path):
    lb, listener, pool, member = http_lb()
    member.enabled = False
    assert server_line(render_checked(lb, base_path), member.id).endswith(" disabled")


def test_member_weight_and_backup(base_path):
    lb, listener, pool, member = http_lb()
    member.weight = 0
    spare = add_member(pool, ip_address="10.0.1.12", weight=7, backup=True)
    text = render_checked(lb, base_path)
    assert server_line(text, member.id) == f"server {member.id} 10.0.1.11:8080 weight 0"
    assert server_line(text, spare.id) == f"server {spare.id} 10.0.1.12:8080 weight 7 backup"
    assert "option allbackups" in section(text, f"backend {pool.id}:{listener.id}")


def test_transient_defaults_render_as_column_defaults(base_path):
    """Unsaved instances carry None where the column default would apply at flush."""
    lb = m.LoadBalancer(id=new_id(), vip_address="10.0.0.10")
    listener = m.Listener(id=new_id(), protocol=c.HTTP, protocol_port=80)
    lb.listeners.append(listener)
    pool = m.Pool(id=new_id(), protocol=c.HTTP, lb_algorithm=c.ROUND_ROBIN)
    listener.default_pool = pool
    member = m.Member(id=new_id(), ip_address="10.0.1.11", protocol_port=80)
    pool.members.append(member)
    text = render_checked(lb, base_path)
    assert server_line(text, member.id) == f"server {member.id} 10.0.1.11:80 weight 1"
    assert "maxconn 50000" in section(text, f"frontend {listener.id}")


def test_simple_namespace_graph_renders(base_path):
    member = SimpleNamespace(id=new_id(), ip_address="10.0.1.11", protocol_port=80,
                             weight=2, enabled=True, backup=False, provisioning_status="ACTIVE")
    pool = SimpleNamespace(id=new_id(), protocol="HTTP", lb_algorithm="LEAST_CONNECTIONS",
                           enabled=True, provisioning_status="ACTIVE", members=[member],
                           health_monitor=None, session_persistence=None)
    listener = SimpleNamespace(id=new_id(), protocol="HTTP", protocol_port=80,
                               connection_limit=-1, enabled=True,
                               provisioning_status="ACTIVE", default_pool=pool)
    lb = SimpleNamespace(id=new_id(), enabled=True, vip_address="10.0.0.10",
                         listeners=[listener], project_id="p")
    text = render_checked(lb, base_path)
    assert "balance leastconn" in section(text, f"backend {pool.id}:{listener.id}")


# --- modes and protocols ---

@pytest.mark.parametrize(("listener_proto", "pool_proto", "fe_mode", "be_mode", "proxy"), [
    (c.HTTP, c.HTTP, "http", "http", None),
    (c.HTTP, c.PROXY, "http", "http", "send-proxy"),
    (c.HTTP, c.PROXYV2, "http", "http", "send-proxy-v2"),
    (c.HTTPS, c.HTTPS, "tcp", "tcp", None),
    (c.HTTPS, c.TCP, "tcp", "tcp", None),
    (c.HTTPS, c.PROXY, "tcp", "tcp", "send-proxy"),
    (c.TCP, c.TCP, "tcp", "tcp", None),
    (c.TCP, c.HTTP, "tcp", "http", None),
    (c.TCP, c.PROXYV2, "tcp", "tcp", "send-proxy-v2"),
])
def test_modes_follow_listener_and_pool_protocols(base_path, listener_proto, pool_proto,
                                                  fe_mode, be_mode, proxy):
    lb, listener, pool, member = http_lb(protocol=listener_proto, protocol_port=443)
    pool.protocol = pool_proto
    text = render_checked(lb, base_path)
    assert f"mode {fe_mode}" in section(text, f"frontend {listener.id}")
    be = section(text, f"backend {pool.id}:{listener.id}")
    assert be[0] == f"mode {be_mode}"
    assert ("http-reuse safe" in be) == (be_mode == "http")
    line = server_line(text, member.id)
    assert (f" {proxy}" in line) if proxy else ("send-proxy" not in line)


def test_idle_close_on_response_only_in_http_frontends(base_path):
    lb, listener, pool, _ = http_lb(protocol=c.TCP)
    pool.protocol = c.TCP
    assert "option idle-close-on-response" not in render_checked(lb, base_path)


@pytest.mark.parametrize("protocol", [c.UDP, c.SCTP, c.PROMETHEUS])
def test_listener_protocols_not_built_yet_are_refused(protocol):
    lb, listener, *_ = http_lb(protocol=protocol)
    with pytest.raises(UnsupportedFeature, match=protocol):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


def test_disabled_listener_of_an_unsupported_protocol_is_just_skipped(base_path):
    lb, *_ = http_lb()
    add_listener(lb, protocol=c.UDP, protocol_port=53, enabled=False)
    render_checked(lb, base_path)


def test_invalid_listener_pool_protocol_pair_is_refused():
    lb, listener, pool, _ = http_lb()
    pool.protocol = c.TCP
    with pytest.raises(RenderError, match="cannot serve"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


# --- balance and session persistence ---

@pytest.mark.parametrize(("algorithm", "balance"), [
    (c.ROUND_ROBIN, "roundrobin"), (c.LEAST_CONNECTIONS, "leastconn"),
    (c.SOURCE_IP, "source")])
def test_balance_algorithms(base_path, algorithm, balance):
    lb, listener, pool, _ = http_lb()
    pool.lb_algorithm = algorithm
    assert f"balance {balance}" in section(render_checked(lb, base_path),
                                           f"backend {pool.id}:{listener.id}")


@pytest.mark.parametrize("protocol, rule", [(c.HTTP, "http-request"),
                                            (c.TCP, "tcp-request content")])
def test_source_ip_port_hashes_address_and_port(base_path, protocol, rule):
    lb, listener, pool, _ = http_lb(protocol=protocol)
    pool.protocol = protocol
    pool.lb_algorithm = c.SOURCE_IP_PORT
    lines = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    i = lines.index("balance hash src,concat(:,txn.octolb_src_port)")
    assert lines[i - 1] == f"{rule} set-var(txn.octolb_src_port) src_port"


def test_source_ip_persistence_is_a_stick_table_on_src(base_path):
    lb, listener, pool, _ = http_lb()
    pool.session_persistence = {"type": c.SOURCE_IP, "cookie_name": None}
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "stick-table type ipv6 size 10k" in be
    assert "stick on src" in be


def test_http_cookie_persistence_inserts_srv_cookie_per_member(base_path):
    lb, listener, pool, member = http_lb()
    pool.session_persistence = {"type": c.HTTP_COOKIE}
    text = render_checked(lb, base_path)
    assert "cookie SRV insert indirect nocache" in section(
        text, f"backend {pool.id}:{listener.id}")
    assert server_line(text, member.id).endswith(f" cookie {member.id}")


def test_app_cookie_persistence_sticks_on_the_named_cookie(base_path):
    lb, listener, pool, _ = http_lb()
    pool.session_persistence = {"type": c.APP_COOKIE, "cookie_name": "JSESSIONID"}
    be = section(render_checked(lb, base_path, stick_size="20k"),
                 f"backend {pool.id}:{listener.id}")
    assert "stick-table type string len 64 size 20k" in be
    assert "stick store-response res.cook(JSESSIONID)" in be
    assert "stick match req.cook(JSESSIONID)" in be


def test_cookie_persistence_on_a_tcp_pool_renders_nothing(base_path):
    lb, listener, pool, member = http_lb(protocol=c.TCP)
    pool.protocol = c.TCP
    pool.session_persistence = {"type": c.HTTP_COOKIE}
    text = render_checked(lb, base_path)
    assert "cookie" not in text


# --- health monitors ---

def test_http_monitor_defaults(base_path):
    lb, listener, pool, member = http_lb()
    add_hm(pool, timeout=4, delay=6, rise_threshold=2, fall_threshold=5)
    text = render_checked(lb, base_path)
    be = section(text, f"backend {pool.id}:{listener.id}")
    assert be[be.index("timeout check 4s"):][:3] == [
        "timeout check 4s", "option httpchk GET /", "http-check expect rstatus 200"]
    assert server_line(text, member.id) == (
        f"server {member.id} 10.0.1.11:8080 weight 1 check inter 6s fastinter 500 fall 5 rise 2")


def test_http_monitor_with_version_and_domain_sends_host(base_path):
    lb, listener, pool, _ = http_lb()
    add_hm(pool, http_method="HEAD", url_path="/healthz?full=1", expected_codes="200-202",
           http_version=1.1, domain_name="app.example.com")
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "option httpchk HEAD /healthz?full=1 HTTP/1.1" in be
    assert "http-check send hdr Host app.example.com" in be
    assert "http-check expect rstatus 200|201|202" in be


def test_http_1_0_monitor_ignores_domain_name(base_path):
    lb, listener, pool, _ = http_lb()
    add_hm(pool, http_version=1.0, domain_name="app.example.com")
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "option httpchk GET / HTTP/1.0" in be
    assert not any("Host" in line for line in be)


def test_https_monitor_checks_over_tls_without_verification(base_path):
    lb, listener, pool, member = http_lb(protocol=c.HTTPS)
    pool.protocol = c.HTTPS
    add_hm(pool, type=c.HM_HTTPS)
    text = render_checked(lb, base_path)
    assert "option httpchk GET /" in section(text, f"backend {pool.id}:{listener.id}")
    assert " check check-ssl verify none inter 5s" in server_line(text, member.id)


@pytest.mark.parametrize(("hm_type", "check"), [
    (c.HM_TCP, " check inter 5s"),
    (c.HM_TLS_HELLO, " check check-ssl verify none inter 5s"),
])
def test_tcp_is_a_connect_check_and_tls_hello_a_tls_handshake(base_path, hm_type, check):
    """No layer-7 request for either; TLS-HELLO completes a TLS handshake (layer 6), not
    the SSLv3 `ssl-hello-chk` that current TLS stacks refuse."""
    lb, listener, pool, member = http_lb(protocol=c.TCP)
    pool.protocol = c.TCP
    add_hm(pool, type=hm_type)
    text = render_checked(lb, base_path)
    be = section(text, f"backend {pool.id}:{listener.id}")
    assert "timeout check 3s" in be
    assert not any(ln.startswith(("option httpchk", "option ssl-hello-chk", "http-check"))
                   for ln in be)
    assert f"{check} fastinter 500 fall 3 rise 2" in server_line(text, member.id)


# PING monitors and allowed_cidrs: tests/unit/test_render_ping_cidrs.py


@pytest.mark.parametrize("change", [
    {"enabled": False}, {"provisioning_status": c.PENDING_DELETE}])
def test_disabled_or_deleted_monitor_renders_no_checks(base_path, change):
    lb, listener, pool, member = http_lb()
    hm = add_hm(pool)
    for key, value in change.items():
        setattr(hm, key, value)
    text = render_checked(lb, base_path)
    assert "check" not in text
    assert server_line(text, member.id) == f"server {member.id} 10.0.1.11:8080 weight 1"


def test_monitor_address_and_port_go_after_check(base_path):
    lb, listener, pool, member = http_lb()
    member.monitor_address = "10.0.2.11"
    member.monitor_port = 9000
    add_hm(pool)
    assert server_line(render_checked(lb, base_path), member.id).endswith(
        "check inter 5s fastinter 500 fall 3 rise 2 addr 10.0.2.11 port 9000")


def test_monitor_address_without_monitor_is_not_rendered(base_path):
    lb, listener, pool, member = http_lb()
    member.monitor_address = "10.0.2.11"
    assert "addr" not in server_line(render_checked(lb, base_path), member.id)


def test_load_server_state_is_opt_in(base_path):
    lb, listener, pool, _ = http_lb()
    add_hm(pool)
    # what the agent saves before a reload (`show servers state`); HAProxy warns without it
    os.makedirs(f"{base_path}/{lb.id}")
    Path(f"{base_path}/{lb.id}/servers-state").write_text("1\n")
    text = render_checked(lb, base_path, load_server_state=True)
    assert f"server-state-file {base_path}/{lb.id}/servers-state" in section(text, "global")
    assert "load-server-state-from-file global" in section(
        text, f"backend {pool.id}:{listener.id}")
    assert "server-state" not in render_checked(lb, base_path)


@pytest.mark.parametrize(("codes", "regex"), [
    ("200", "200"),
    ("200,202", "200|202"),
    ("202, 200 ,204", "200|202|204"),
    ("200-204", "200|201|202|203|204"),
    ("418", "418"),
    ("301-302", "301|302"),
])
def test_expected_codes_become_an_rstatus_regex(codes, regex):
    assert v.expected_codes_regex(codes) == regex


@pytest.mark.parametrize("codes", [
    "", "20", "2000", "200;202", "200-", "204-200", "099", "600", "200\n", "200-202,204",
    "abc", "200|202"])
def test_bad_expected_codes_are_refused(codes):
    with pytest.raises(RenderError):
        v.expected_codes_regex(codes)


# --- header insertion ---

def test_forwarded_headers_on_http_pool(base_path):
    lb, listener, pool, _ = http_lb(insert_headers={
        "X-Forwarded-For": "true", "X-Forwarded-Port": "True", "X-Forwarded-Proto": "TRUE",
        "X-Real-IP": "true"})
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "option forwardfor" in be
    assert "http-request set-header X-Forwarded-Port %[dst_port]" in be
    assert "http-request set-header X-Forwarded-Proto http" in be
    assert "http-request set-header X-Real-IP %[src]" in be


def test_header_values_other_than_true_insert_nothing(base_path):
    lb, listener, pool, _ = http_lb(insert_headers={
        "X-Forwarded-For": "false", "X-Forwarded-Port": "yes"})
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "option forwardfor" not in be
    assert not any(ln.startswith("http-request") for ln in be)


def test_proxy_pool_gets_proto_but_not_forwarded_for(base_path):
    lb, listener, pool, _ = http_lb(insert_headers={
        "X-Forwarded-For": "true", "X-Forwarded-Proto": "true"})
    pool.protocol = c.PROXY
    be = section(render_checked(lb, base_path), f"backend {pool.id}:{listener.id}")
    assert "option forwardfor" not in be
    assert "http-request set-header X-Forwarded-Proto http" in be


# --- timeouts ---

def test_listener_timeouts(base_path):
    lb, listener, pool, _ = http_lb(timeout_client_data=1000, timeout_member_connect=2000,
                                    timeout_member_data=3000, timeout_tcp_inspect=400)
    text = render_checked(lb, base_path)
    fe = section(text, f"frontend {listener.id}")
    assert "timeout client 1000" in fe and "tcp-request inspect-delay 400" in fe
    be = section(text, f"backend {pool.id}:{listener.id}")
    assert "timeout connect 2000" in be and "timeout server 3000" in be


def test_zero_or_unset_timeouts_take_the_configured_defaults(base_path):
    lb, listener, pool, _ = http_lb(timeout_client_data=0, timeout_member_connect=None,
                                    timeout_member_data=None, timeout_tcp_inspect=None)
    text = render_checked(lb, base_path, timeout_client_data=7000,
                          timeout_member_connect=8000, timeout_member_data=9000)
    fe = section(text, f"frontend {listener.id}")
    assert "timeout client 7000" in fe
    assert not any("inspect-delay" in ln for ln in fe)
    be = section(text, f"backend {pool.id}:{listener.id}")
    assert "timeout connect 8000" in be and "timeout server 9000" in be


# --- IPv6 ---

def test_ipv6_member_vip_and_monitor_address(base_path):
    lb, listener, pool, member = http_lb()
    lb.vip_address = "fd00:1::10"
    member.ip_address = "FD00:2:0::11"
    member.monitor_address = "fd00:3::11"
    member.monitor_port = 9000
    add_hm(pool)
    text = render_checked(lb, base_path)
    assert "bind fd00:1::10:80" in section(text, f"frontend {listener.id}")
    line = server_line(text, member.id)
    assert line.startswith(f"server {member.id} fd00:2::11:8080 weight 1")
    assert "addr fd00:3::11: port 9000" in line
    assert "[" not in text


def test_ipv6_member_address_is_parsed_as_intended_by_haproxy(base_path):
    """`show servers state` proves HAProxy reads address and port the way we mean."""
    port = free_port()
    lb = make_lb(vip_address="127.0.0.1")
    listener = add_listener(lb, protocol_port=port)
    pool = add_pool(lb, listener)
    member = add_member(pool, ip_address="fd00::1", protocol_port=8081,
                        monitor_address="::1", monitor_port=9)
    add_hm(pool, type=c.HM_TCP, delay=3600)
    text = render_checked(lb, base_path, max_fds=fd_limit())
    with running_haproxy(text, base_path, port) as proc:
        assert proc.poll() is None, proc.communicate()[0]
        state = stats_command(base_path, lb.id, "show servers state")
    [row] = [ln.split() for ln in state.splitlines() if member.id in ln]
    header = state.splitlines()[1].lstrip("# ").split()
    fields = dict(zip(header, row, strict=False))
    assert fields["srv_addr"] == "fd00::1"
    assert fields["srv_port"] == "8081"
    assert fields["srv_check_addr"] == "::1"
    assert fields["srv_check_port"] == "9"


def test_ipv6_zone_is_refused():
    lb, listener, pool, member = http_lb()
    member.ip_address = "fe80::1%eth0"
    with pytest.raises(RenderError, match="zone"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


# --- pool TLS (re-encryption without files) ---

def test_tls_enabled_pool_encrypts_to_members(base_path):
    lb, listener, pool, member = http_lb()
    pool.tls_enabled = True
    pool.tls_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
    pool.tls_versions = ["TLSv1.2", "TLSv1.3"]
    pool.alpn_protocols = ["h2", "http/1.1"]
    add_hm(pool)
    line = server_line(render_checked(lb, base_path), member.id)
    assert "check check-alpn h2,http/1.1 inter" in line
    assert line.endswith(
        " ssl sni ssl_fc_sni verify none ciphers "
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384 "
        "no-sslv3 no-tlsv10 no-tlsv11 alpn h2,http/1.1")


def test_pool_tls_references_without_their_files_are_refused():
    lb, listener, pool, _ = http_lb()
    pool.tls_enabled = True
    pool.ca_tls_container_ref = "http://barbican/v1/containers/x"
    with pytest.raises(RenderError, match="without their files"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


# --- ACTIVE_STANDBY peers ---

def test_active_standby_replicates_stick_tables_between_peers(base_path):
    lb, listener, pool, _ = http_lb()
    lb.topology = c.TOPOLOGY_ACTIVE_STANDBY
    pool.session_persistence = {"type": c.SOURCE_IP}
    other = new_id()
    lb.amphorae = [
        m.Amphora(id=AMP_ID, status=c.ALLOCATED, vrrp_ip="10.0.0.21", role=c.ROLE_MASTER),
        m.Amphora(id=other, status=c.ALLOCATED, vrrp_ip="10.0.0.22", role=c.ROLE_BACKUP),
        m.Amphora(id=new_id(), status=c.DELETED, vrrp_ip="10.0.0.23"),
    ]
    text = render_checked(lb, base_path)
    peers = f"{lb.id.replace('-', '')}_peers"
    assert f"localpeer {AMP_ID}" in section(text, "global")
    assert section(text, f"peers {peers}") == [
        f"peer {AMP_ID} 10.0.0.21:1025", f"peer {other} 10.0.0.22:1025"]
    assert f"stick-table type ipv6 size 10k peers {peers}" in section(
        text, f"backend {pool.id}:{listener.id}")


def test_single_topology_has_no_peers(base_path):
    lb, *_ = http_lb()
    lb.amphorae = [m.Amphora(id=AMP_ID, status=c.ALLOCATED, vrrp_ip="10.0.0.21")]
    text = render_checked(lb, base_path)
    assert "peers" not in text and "localpeer" not in text


# --- safety: nothing a tenant typed becomes a directive ---

@pytest.mark.parametrize("evil", ["/x\nbind :1", "/x\r\nbind :1", "/x\x00", "/x\x1b[0m",
                                  "/x\u2028y", "/x\x85y"])
def test_control_characters_in_url_path_are_refused(evil):
    lb, listener, pool, _ = http_lb()
    add_hm(pool, url_path=evil)
    with pytest.raises(RenderError, match="url_path"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize(("field", "value"), [
    ("url_path", "/a b"), ("url_path", "no-slash"), ("url_path", "/a#frag"),
    ("url_path", '/a"b'), ("url_path", "/a\\b"),
    ("http_method", "GET /x"), ("http_method", "GET\n"),
    ("expected_codes", "200\nbind :1"),
    ("domain_name", "a.example\rX"), ("domain_name", "a b"), ("domain_name", "-a.com"),
])
def test_unsafe_monitor_strings_are_refused(field, value):
    lb, listener, pool, _ = http_lb()
    add_hm(pool, **{"http_version": 1.1, "domain_name": "ok.example", field: value})
    with pytest.raises(RenderError, match=field):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize("name", ["a\nb", "a b", "a;b", "a=b", "a(b", "a\\b", ""])
def test_unsafe_cookie_names_are_refused(name):
    lb, listener, pool, _ = http_lb()
    pool.session_persistence = {"type": c.APP_COOKIE, "cookie_name": name}
    with pytest.raises(RenderError, match="cookie_name"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize(("attr", "value"), [
    ("ip_address", "10.0.0.1\nbind :1"), ("ip_address", "backend.example.com"),
    ("ip_address", "10.0.0.1:80"), ("protocol_port", 0), ("protocol_port", 70000),
    ("weight", 257), ("weight", "1"), ("monitor_address", "10.0.0.1 backup"),
])
def test_unsafe_member_values_are_refused(attr, value):
    lb, listener, pool, member = http_lb()
    add_hm(pool)
    setattr(member, attr, value)
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize("which", ["lb", "listener", "pool", "member", "amphora"])
def test_ids_must_be_uuid_shaped(which):
    lb, listener, pool, member = http_lb()
    evil = "x\nlisten evil"
    amphora_id = AMP_ID
    if which == "amphora":
        amphora_id = evil
    else:
        {"lb": lb, "listener": listener, "pool": pool, "member": member}[which].id = evil
    with pytest.raises(RenderError, match="UUID"):
        render_haproxy_config(lb, amphora_id=amphora_id, base_path="/x")


def test_names_and_descriptions_are_never_rendered(base_path):
    lb, listener, pool, member = http_lb()
    for obj in (lb, listener, pool, member):
        obj.name = "evil\nlisten x"
        if hasattr(obj, "description"):
            obj.description = "evil\nlisten y"
    text = render_checked(lb, base_path)
    assert "evil" not in text


def test_bad_vip_address_is_refused():
    lb, *_ = http_lb()
    lb.vip_address = "10.0.0.1\nlisten x"
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x")


@pytest.mark.parametrize("path", ["relative", "/a b", "/a\n", "/a;b"])
def test_unsafe_base_path_is_refused(path):
    lb, *_ = http_lb()
    with pytest.raises(RenderError, match="base_path"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path=path)


def test_stats_socket_is_relative_so_a_long_base_path_still_fits(tmp_path):
    """HAProxy refuses socket paths over 97 characters; the agent runs HAProxy in its base
    path, so the socket is named relative to it whatever the state directory's length."""
    lb, *_ = http_lb()
    long_base = tmp_path / ("d" * 80)
    long_base.mkdir()
    text = render_checked(lb, str(long_base))
    assert f"stats socket unix@{lb.id}.sock " in text


def test_odd_project_id_is_escaped_in_the_log_format(base_path):
    lb, *_ = http_lb()
    lb.project_id = "a b%c#d'e"
    text = render_checked(lb, base_path, connection_logging=True, log_target="/dev/log")
    assert "log-format a\\ b%%c\\#d\\'e\\ " in text


# --- the escaping rules, proven by running HAProxy ---

@pytest.fixture
def probe(base_path):
    """Run a one-frontend HAProxy whose `http-request return` lines are given."""
    require_haproxy()

    @contextlib.contextmanager
    def run(lines: list[str]) -> Iterator[int]:
        port = free_port()
        body = "\n".join(f"    {line}" for line in lines)
        text = (f"global\n    nbthread 1\n\ndefaults\n    timeout connect 5s\n"
                f"    timeout client 5s\n    timeout server 5s\n\nfrontend probe\n"
                f"    bind 127.0.0.1:{port}\n    mode http\n{body}\n")
        haproxy_check(text, base_path)
        with running_haproxy(text, base_path, port) as proc:
            assert proc.poll() is None, proc.communicate()[0]
            yield port
    return run


def http_get(port: int, headers: dict[str, str]) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        head = "".join(f"{k}: {val}\r\n" for k, val in headers.items())
        s.sendall(f"GET / HTTP/1.0\r\nHost: probe\r\n{head}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")[1:]
    return {k.lower(): val for k, _, val in (ln.partition(": ") for ln in lines)}


@pytest.mark.parametrize("name", ["JSESSIONID", "a#b", "it's", "x$HOME", "p%q&r|s~t`u^v*w+y!z.-_"])
def test_cookie_name_escaping_reaches_haproxy_intact(probe, name):
    with probe([f"http-request set-var(txn.c) req.cook({v.cookie_name(name)})",
                "http-request return status 200 hdr X-Got %[var(txn.c)]"]) as port:
        got = http_get(port, {"Cookie": f"other=1; {name}=the-value"})
    assert got["x-got"] == "the-value"


@pytest.mark.parametrize("text", ["plain", "a b", "100%", "a#b", "it's", 'say "hi"',
                                  "back\\slash", "$HOME"])
def test_log_format_literal_escaping_reaches_haproxy_intact(probe, text):
    with probe([f"http-request return status 200 hdr X-Got {v.log_format_literal(text, 't')}"
                ]) as port:
        got = http_get(port, {})
    assert got["x-got"] == text


def test_http_check_sends_exactly_the_path_and_host_asked_for(base_path):
    """A real HTTP check against a recording server: url_path (with a quote and a `$`),
    method, version and Host arrive intact, and the rstatus regex accepts a 202."""
    require_haproxy()
    seen: list[tuple[str, str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_OPTIONS(self):  # noqa: N802 - http.server's naming
            seen.append((self.command, self.path, self.headers.get("Host")))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = free_port()
        lb = make_lb(vip_address="127.0.0.1")
        listener = add_listener(lb, protocol_port=port)
        pool = add_pool(lb, listener)
        member = add_member(pool, ip_address="127.0.0.1",
                            protocol_port=server.server_address[1])
        url = "/health/it's?x=$HOME&y=%41:@!*()"
        add_hm(pool, http_method="OPTIONS", url_path=url, expected_codes="200,202",
               http_version=1.1, domain_name="check.example", delay=1, rise_threshold=1)
        text = render_checked(lb, base_path, max_fds=fd_limit())
        with running_haproxy(text, base_path, port) as proc:
            assert proc.poll() is None, proc.communicate()[0]
            deadline = time.monotonic() + 10
            state = ""
            while time.monotonic() < deadline:
                state = stats_command(base_path, lb.id, "show servers state")
                row = [ln.split() for ln in state.splitlines() if member.id in ln]
                if seen and row and row[0][5] == "2":  # srv_op_state 2: running (UP)
                    break
                time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
    assert seen, "HAProxy never sent a health check"
    assert seen[0] == ("OPTIONS", url, "check.example")
    assert re.search(rf"{member.id} 127\.0\.0\.1 2 ", state), state


# --- the file as a whole ---

def test_config_hash_is_sha256_and_stable(base_path):
    lb, listener, *_ = http_lb()
    first = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)
    again = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)
    assert config_hash(first) == config_hash(again)
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(first))
    listener.connection_limit = 10
    changed = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)
    assert config_hash(changed) != config_hash(first)


def test_full_featured_sample_passes_haproxy(base_path):
    lb = make_lb()
    web = add_listener(lb, protocol_port=80, connection_limit=2000,
                       insert_headers={"X-Forwarded-For": "true"})
    web_pool = add_pool(lb, web, session_persistence={"type": c.HTTP_COOKIE})
    add_hm(web_pool, expected_codes="200-299", url_path="/status")
    for i in range(3):
        add_member(web_pool, ip_address=f"10.0.1.{20 + i}", weight=i, backup=i == 2)
    add_member(web_pool, ip_address="fd00::20", enabled=False)
    tls = add_listener(lb, protocol=c.HTTPS, protocol_port=443)
    tls_pool = add_pool(lb, tls, protocol=c.PROXYV2, lb_algorithm=c.SOURCE_IP,
                        session_persistence={"type": c.SOURCE_IP})
    add_hm(tls_pool, type=c.HM_TLS_HELLO)
    add_member(tls_pool, ip_address="10.0.1.30", protocol_port=443)
    raw = add_listener(lb, protocol=c.TCP, protocol_port=5432, timeout_tcp_inspect=500)
    add_member(add_pool(lb, raw, protocol=c.TCP, lb_algorithm=c.LEAST_CONNECTIONS),
               ip_address="10.0.1.40", protocol_port=5432)
    add_listener(lb, protocol_port=8080)  # no pool: HAProxy answers 503
    text = render_checked(lb, base_path, max_fds=20000, connection_logging=True,
                          log_target="127.0.0.1:10514")
    assert text.count("\nfrontend ") == 4 and text.count("\nbackend ") == 3

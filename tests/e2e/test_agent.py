"""The amphora agent with real HAProxy, driven through AmphoraClient and LocalComputeDriver.

Every amphora is an agent process on a random 127.200.x.y address; HAProxy serves
VIPs on other random 127.200.x.y addresses in front of two in-process HTTP servers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from octolb.amphora.agent.process import (
    all_pids,
    children,
    cmdline,
    is_alive,
    parent,
    read_pid,
)
from octolb.amphora.client import (
    AmphoraClient,
    AmphoraIdentityError,
    AmphoraNotFound,
    AmphoraRequestError,
    InvalidConfig,
)
from octolb.certs.local_ca import LocalCA, ensure_ca
from octolb.compute.local import LocalComputeDriver

pytestmark = pytest.mark.skipif(
    not os.access("/usr/sbin/haproxy", os.X_OK), reason="needs HAProxy"
)

HEARTBEAT_INTERVAL = 1


# --- helpers ----------------------------------------------------------------------------


def eventually(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    """Poll ``check`` until it returns something truthy (and return that) or fail."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what or check} (last error: {last_error!r})")


def free_address() -> tuple[str, int]:
    """A random 127.200.x.y address and a TCP port free on it."""
    for _ in range(100):
        ip = f"127.200.{random.randint(1, 254)}.{random.randint(1, 254)}"
        with socket.socket() as sock:
            try:
                sock.bind((ip, 0))
            except OSError:
                continue
            return ip, sock.getsockname()[1]
    raise RuntimeError("no free loopback address")


def port_open(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((ip, port)) == 0


def http_client(**kwargs) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=5.0, **kwargs)


def fresh_connection_get(url: str) -> httpx.Response:
    with http_client() as client:
        return client.get(url)


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # HAProxy closing idle server connections on reload is expected


class Backend:
    """An HTTP/1.1 keep-alive server answering its own name."""

    def __init__(self, name: str) -> None:
        body = name.encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.name = name
        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HeartbeatReceiver:
    def __init__(self) -> None:
        self.key = secrets.token_hex(16)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.destination = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def receive(self, timeout: float) -> dict | None:
        """Next heartbeat, verified and decoded; None when none arrives in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                datagram = self.sock.recv(65536)
            except TimeoutError:
                continue
            payload, signature = datagram[:-64], datagram[-64:]
            expected = hmac.new(self.key.encode(), payload, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(expected.encode(), signature), "bad heartbeat HMAC"
            return json.loads(zlib.decompress(payload))
        return None

    def close(self) -> None:
        self.sock.close()


@dataclass
class Amp:
    id: str
    lb_network_ip: str
    port: int
    base_path: Path
    build: Callable[[], str]


@dataclass
class LB:
    id: str
    listener_id: str
    pool_id: str
    vip: str
    port: int
    members: dict[str, Backend] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.vip}:{self.port}/"

    @property
    def backend(self) -> str:
        return f"{self.pool_id}:{self.listener_id}"


def haproxy_config(base_path: Path, lb: LB, stats_socket: str | None = None) -> str:
    socket_path = stats_socket or f"{base_path}/{lb.id}.sock"
    servers = "\n".join(
        f"    server {member_id} 127.0.0.1:{backend.port} check inter 200ms"
        for member_id, backend in lb.members.items()
    )
    return f"""\
global
    maxconn 1000
    nbthread 1
    stats socket {socket_path} mode 0600 level admin
    hard-stop-after 30s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    option idle-close-on-response

frontend {lb.listener_id}
    bind {lb.vip}:{lb.port}
    default_backend {lb.backend}

backend {lb.backend}
    balance roundrobin
{servers}
"""


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LocalCA:
    return ensure_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def amphorae_dir() -> Iterator[Path]:
    # Short on purpose: HAProxy allows stats socket paths of at most 97 characters.
    path = Path(tempfile.mkdtemp(prefix="olb", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def driver(amphorae_dir) -> Iterator[LocalComputeDriver]:
    driver = LocalComputeDriver(amphorae_dir)
    yield driver
    for amphora_id in driver.list():
        driver.delete(amphora_id)


@pytest.fixture
def heartbeats() -> Iterator[HeartbeatReceiver]:
    receiver = HeartbeatReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def amp(driver, ca, heartbeats) -> Amp:
    ip, port = free_address()
    amphora_id = str(uuid.uuid4())
    pem, _ = ca.issue_server_cert(amphora_id, 3600)

    def build() -> str:
        return driver.build(
            amphora_id, ip, server_pem=pem, ca_cert_path=ca.ca_cert_path,
            heartbeat_key=heartbeats.key, heartbeat_destinations=[heartbeats.destination],
            heartbeat_interval=HEARTBEAT_INTERVAL, bind_port=port,
        )

    build()
    amp = Amp(amphora_id, ip, port, driver.amphora_dir(amphora_id), build)
    return amp


@pytest.fixture
def client(ca, amp) -> Iterator[AmphoraClient]:
    client = AmphoraClient(ca.ca_cert_path, ca.client_cert_path, bind_port=amp.port)
    client.wait_ready(amp, attempts=200, interval=0.05)
    yield client
    client.close()


@pytest.fixture
def lb() -> Iterator[LB]:
    vip, port = free_address()
    lb = LB(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), vip, port)
    for name in ("one", "two"):
        lb.members[str(uuid.uuid4())] = Backend(name)
    yield lb
    for backend in lb.members.values():
        backend.close()


@pytest.fixture
def serving_lb(amp, client, lb) -> LB:
    """The LB's configuration installed and loaded on the amphora, traffic flowing."""
    client.upload_config(amp, lb.id, haproxy_config(amp.base_path, lb))
    client.reload(amp, lb.id)
    eventually(lambda: fresh_connection_get(lb.url).status_code == 200, what="VIP serves")
    return lb


def master_pid(amp: Amp, lb: LB) -> int | None:
    return read_pid(amp.base_path / lb.id / "haproxy.pid")


# --- mutual TLS -------------------------------------------------------------------------


def test_agent_refuses_a_client_without_certificate(ca, amp, client):
    url = f"https://{amp.lb_network_ip}:{amp.port}/"
    context = ssl.create_default_context(cafile=str(ca.ca_cert_path))
    with pytest.raises(httpx.TransportError):
        with http_client(verify=context) as anonymous:
            anonymous.get(url, extensions={"sni_hostname": amp.id})

    context.load_cert_chain(str(ca.client_cert_path))
    with http_client(verify=context) as controller:
        assert controller.get(url, extensions={"sni_hostname": amp.id}).status_code == 200


def test_client_refuses_an_agent_with_another_amphora_id(client, amp):
    impostor = Amp(str(uuid.uuid4()), amp.lb_network_ip, amp.port, amp.base_path, amp.build)

    with pytest.raises(AmphoraIdentityError):
        client.get_info(impostor)


# --- API --------------------------------------------------------------------------------


def test_agent_reports_versions_and_limits(client, amp):
    info = client.get_info(amp)
    details = client.get_details(amp)

    assert info["api_version"] == "1.0"
    assert info["haproxy_version"].startswith("2.")
    assert details["haproxy_count"] == 0
    assert details["rlimit_nofile"] > 0
    assert details["memory"]["total"] > 0
    assert details["base_path"] == str(amp.base_path)


def test_unknown_load_balancer_has_no_config_and_cannot_be_reloaded(client, amp):
    lb_id = str(uuid.uuid4())

    assert client.get_config(amp, lb_id) is None
    with pytest.raises(AmphoraNotFound):
        client.reload(amp, lb_id)
    client.delete_lb(amp, lb_id)  # absent is fine


def test_invalid_config_is_rejected_with_haproxy_output_and_old_config_kept(client, amp, lb):
    good = haproxy_config(amp.base_path, lb)
    client.upload_config(amp, lb.id, good)

    with pytest.raises(InvalidConfig) as caught:
        client.upload_config(amp, lb.id, good.replace(f"bind {lb.vip}", "bind nowhere"))

    assert "ALERT" in caught.value.details and "nowhere" in caught.value.details
    assert client.get_config(amp, lb.id) == good


def test_invalid_first_config_is_refused_at_start_and_not_kept(client, amp, lb):
    """A first configuration is not checked on upload (starting HAProxy parses it): the
    refusal comes with the start, as a 400 with HAProxy's output, and nothing stays."""
    bad = haproxy_config(amp.base_path, lb).replace(f"bind {lb.vip}", "bind nowhere")
    client.upload_config(amp, lb.id, bad)

    with pytest.raises(InvalidConfig) as caught:
        client.reload(amp, lb.id)

    assert "ALERT" in caught.value.details and "nowhere" in caught.value.details
    assert client.get_config(amp, lb.id) is None
    good = haproxy_config(amp.base_path, lb)
    client.upload_config(amp, lb.id, good)
    client.reload(amp, lb.id)  # and a good one starts
    assert client.get_config(amp, lb.id) == good


def test_uploaded_config_serves_traffic_round_robin(client, amp, serving_lb):
    names = [fresh_connection_get(serving_lb.url).text for _ in range(6)]

    assert set(names) == {"one", "two"}
    assert all(a != b for a, b in zip(names, names[1:], strict=False))
    assert client.get_listeners(amp) == [
        {"status": "ACTIVE", "uuid": serving_lb.listener_id, "type": "HTTP"}
    ]


def test_failing_start_reports_haproxy_output(client, amp, lb):
    lb.vip = "192.0.2.1"  # valid for `haproxy -c`, but not an address of this host
    client.upload_config(amp, lb.id, haproxy_config(amp.base_path, lb))

    with pytest.raises(AmphoraRequestError) as caught:
        client.reload(amp, lb.id)

    assert caught.value.status_code == 500
    assert "cannot bind" in caught.value.details


def test_stop_closes_the_vip_and_reload_starts_again(client, amp, serving_lb):
    client.stop(amp, serving_lb.id)
    assert not port_open(serving_lb.vip, serving_lb.port)

    client.reload(amp, serving_lb.id)
    assert fresh_connection_get(serving_lb.url).status_code == 200


# --- heartbeats -------------------------------------------------------------------------


def test_heartbeat_is_signed_and_reports_statuses_and_connection_deltas(
    amp, client, lb, heartbeats
):
    # No fixture traffic: every frontend session below is one of ours.
    client.upload_config(amp, lb.id, haproxy_config(amp.base_path, lb))
    client.reload(amp, lb.id)
    total = 0
    seen: list[dict] = []

    def next_heartbeat() -> dict:
        nonlocal total
        message = heartbeats.receive(timeout=5)
        assert message is not None, "no heartbeat"
        seen.append(message)
        listener = message["listeners"].get(lb.listener_id)
        total += listener["stats"]["totconns"] if listener else 0
        return message

    def all_up() -> dict | None:
        message = next_heartbeat()
        pool = message["pools"].get(lb.backend, {})
        if pool.get("status") == "UP" and pool.get("members") == dict.fromkeys(lb.members, "UP"):
            return message
        return None

    message = eventually(all_up, what="heartbeat with the pool and all members UP")
    assert message["id"] == amp.id and message["ver"] == 3
    assert message["listeners"][lb.listener_id]["status"] == "OPEN"

    requests = 5
    for _ in range(requests):
        assert fresh_connection_get(lb.url).status_code == 200
    while total < requests:
        next_heartbeat()

    assert total == requests  # deltas, not absolute counters: their sum is the count
    assert next_heartbeat()["listeners"][lb.listener_id]["stats"]["totconns"] == 0
    assert [m["seq"] for m in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen)))


# --- reloads, agent restarts, deletion --------------------------------------------------


def test_reloads_under_keepalive_load_lose_no_request(client, amp, serving_lb):
    done = threading.Event()
    ok = 0
    failures: list[str] = []

    def load() -> None:
        nonlocal ok
        with http_client() as keepalive:
            while not done.is_set():
                try:
                    response = keepalive.get(serving_lb.url)
                    if response.status_code == 200:
                        ok += 1
                    else:
                        failures.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        for _ in range(10):
            before = ok
            client.reload(amp, serving_lb.id)
            eventually(lambda before=before: ok >= before + 20, what="requests after reload")
        eventually(lambda: ok >= 300, what="a few hundred requests")
    finally:
        done.set()
        worker.join()

    assert failures == []


def test_build_of_a_running_amphora_returns_its_agent_without_spawning(driver, client, amp):
    first = amp.build()

    assert amp.build() == first
    assert driver.is_running(amp.id)
    assert (amp.base_path / "agent.pid").read_text().strip() == first


def test_amphora_secrets_are_private_files(amp):
    for name in ("server.pem", "agent.ini"):
        assert (amp.base_path / name).stat().st_mode & 0o077 == 0, name


def test_haproxy_outlives_a_killed_agent_and_a_new_agent_adopts_it(
    driver, client, amp, serving_lb
):
    agent_pid = int(amp.build())  # idempotent: the running agent's pid
    master = master_pid(amp, serving_lb)

    os.kill(agent_pid, signal.SIGKILL)
    eventually(lambda: not driver.is_running(amp.id), what="agent gone")
    assert fresh_connection_get(serving_lb.url).status_code == 200

    new_agent = int(amp.build())
    client.wait_ready(amp, attempts=200, interval=0.05)
    assert new_agent != agent_pid
    assert client.get_details(amp)["haproxy_count"] == 1
    client.reload(amp, serving_lb.id)
    assert master_pid(amp, serving_lb) == master and is_alive(master)
    assert fresh_connection_get(serving_lb.url).status_code == 200


def test_agent_finds_its_haproxy_without_a_pid_file_and_never_starts_a_second(
    driver, client, amp, serving_lb
):
    # HAProxy itself removes and rewrites the pid file during every reload.
    master = master_pid(amp, serving_lb)
    os.kill(int(amp.build()), signal.SIGKILL)
    eventually(lambda: not driver.is_running(amp.id), what="agent gone")
    (amp.base_path / serving_lb.id / "haproxy.pid").unlink()

    amp.build()
    client.wait_ready(amp, attempts=200, interval=0.05)
    client.reload(amp, serving_lb.id)

    config = str(amp.base_path / serving_lb.id / "haproxy.cfg")
    masters = [
        pid for pid in all_pids()
        if is_alive(pid) and config in cmdline(pid) and config not in cmdline(parent(pid) or 0)
    ]
    assert masters == [master]


def test_restarted_agent_starts_a_configured_haproxy_that_is_not_running(
    driver, client, amp, serving_lb
):
    os.kill(int(amp.build()), signal.SIGKILL)
    eventually(lambda: not driver.is_running(amp.id), what="agent gone")
    old_master = master_pid(amp, serving_lb)
    os.kill(old_master, signal.SIGTERM)
    eventually(lambda: not is_alive(old_master), what="HAProxy gone")

    amp.build()
    client.wait_ready(amp, attempts=200, interval=0.05)

    assert master_pid(amp, serving_lb) != old_master
    assert fresh_connection_get(serving_lb.url).status_code == 200


def test_killed_haproxy_master_is_replaced_at_once_not_by_the_watchdog_scan(
    client, amp, serving_lb
):
    # The scan for dead HAProxy processes is made so slow that only the pidfd held on the
    # master can explain a restart (tests/e2e/test_haproxy_death_watch.py has no scan).
    ini = (amp.base_path / "agent.ini").read_text()
    assert "watchdog_interval" not in ini
    client.update_agent_config(amp, ini.replace(
        "[haproxy_amphora]\n", "[haproxy_amphora]\nwatchdog_interval = 3600\n").encode())
    old_master = master_pid(amp, serving_lb)
    for pid in [old_master, *children(old_master)]:
        os.kill(pid, signal.SIGKILL)

    new_master = eventually(
        lambda: (pid := master_pid(amp, serving_lb)) not in (None, old_master)
        and is_alive(pid) and pid, what="a new HAProxy master")
    eventually(lambda: fresh_connection_get(serving_lb.url).status_code == 200,
               what="VIP serves again")
    assert client.get_details(amp)["haproxy_count"] == 1
    assert is_alive(new_master)


def test_delete_stops_haproxy_and_the_agent(driver, client, amp, serving_lb):
    agent_pid = int(amp.build())
    master = master_pid(amp, serving_lb)
    workers = children(master)
    assert workers

    driver.delete(amp.id)

    assert not any(is_alive(pid) for pid in [agent_pid, master, *workers])
    assert not port_open(serving_lb.vip, serving_lb.port)
    assert not port_open(amp.lb_network_ip, amp.port)
    assert not amp.base_path.exists()
    assert driver.list() == []
    assert not driver.is_running(amp.id)


def test_delete_kills_the_haproxy_of_an_agent_that_was_killed(driver, amp, serving_lb):
    master = master_pid(amp, serving_lb)
    os.kill(int(amp.build()), signal.SIGKILL)
    eventually(lambda: not driver.is_running(amp.id), what="agent gone")

    driver.delete(amp.id)

    assert not is_alive(master)
    assert not port_open(serving_lb.vip, serving_lb.port)
    assert not amp.base_path.exists()


def test_delete_lb_stops_its_haproxy_and_removes_its_files(client, amp, serving_lb):
    master = master_pid(amp, serving_lb)

    client.delete_lb(amp, serving_lb.id)

    assert not is_alive(master)
    assert not port_open(serving_lb.vip, serving_lb.port)
    assert not (amp.base_path / serving_lb.id).exists()
    assert client.get_details(amp)["listeners"] == []


def test_stats_socket_may_be_relative_to_a_long_base_path(ca, tmp_path, heartbeats, lb):
    # tmp_path makes base_path too long for an absolute socket path; unix@ is relative.
    driver = LocalComputeDriver(tmp_path / "amphorae-with-a-rather-long-directory-name")
    ip, port = free_address()
    amp_id = str(uuid.uuid4())
    pem, _ = ca.issue_server_cert(amp_id, 3600)
    try:
        driver.build(
            amp_id, ip, server_pem=pem, ca_cert_path=ca.ca_cert_path,
            heartbeat_key=heartbeats.key, heartbeat_destinations=[heartbeats.destination],
            heartbeat_interval=HEARTBEAT_INTERVAL, bind_port=port,
        )
        amp = Amp(amp_id, ip, port, driver.amphora_dir(amp_id), lambda: "")
        assert len(f"{amp.base_path}/{lb.id}.sock") > 107
        with AmphoraClient(ca.ca_cert_path, ca.client_cert_path, bind_port=port) as client:
            client.wait_ready(amp, attempts=200, interval=0.05)
            config = haproxy_config(amp.base_path, lb, stats_socket=f"unix@{lb.id}.sock")
            client.upload_config(amp, lb.id, config)
            client.reload(amp, lb.id)

        def reported() -> bool:
            message = heartbeats.receive(timeout=5)
            return bool(message and lb.listener_id in message["listeners"])

        eventually(reported, what="listener in heartbeat")
    finally:
        driver.delete(amp_id)

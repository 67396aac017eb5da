"""Test harness for end-to-end tests: a real `octolb up` process on its own state directory,
ports and loopback ranges, the stock `openstack` CLI pointed at it, and real HTTP backends.
Everything started here is stopped by PID when the test ends."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from octolb import netutil
from octolb.netutil import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def loopback_ranges(n: int) -> list[str]:
    """Distinct random 127.X.Y.0/24 ranges, away from the defaults 127.0-2 (and unlikely to
    meet those of another test run on the same machine)."""
    picks = random.sample(range(20 * 256, 250 * 256), n)
    return [f"127.{p // 256}.{p % 256}.0/24" for p in picks]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """octolb.netutil.wait_until, failing the test (AssertionError) on timeout."""
    return netutil.wait_until(predicate, timeout, interval, what, error=AssertionError)


class _QuietServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # health checks hang up early; that is not an error of the test


class Backend:
    """A real HTTP member: answers `/` with its name and `/healthcheck` with 200."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int | None = None):
        self.name, self.host = name, host
        self.port = port or free_port(host)
        self.hits = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Backend:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                body = backend.name.encode()
                if self.path != "/healthcheck":
                    backend.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = _QuietServer((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Octolb:
    """`octolb up` as a child process with everything on private ports and ranges."""

    def __init__(self, state_dir: Path, heartbeat_interval: int = 1, extra_conf: str = ""):
        self.state_dir = state_dir
        self.api_port = free_port()
        self.hm_port = free_port(kind=socket.SOCK_DGRAM)
        self.vip_cidr, self.mgmt_cidr = loopback_ranges(2)
        self.conf = state_dir / "octolb.conf"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"[api_settings]\nbind_port = {self.api_port}\n"
            f"[health_manager]\nbind_port = {self.hm_port}\n"
            f"heartbeat_interval = {heartbeat_interval}\n"
            f"[networking]\nseed_subnet_cidr = {self.vip_cidr}\n"
            f"[compute_local]\nmgmt_cidr = {self.mgmt_cidr}\n" + extra_conf)
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.log = state_dir / "octolb.log"

    # -- process --------------------------------------------------------------------
    def start(self) -> Octolb:
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [str(BIN / "octolb"), "up", "--config-file", str(self.conf),
             "--state-dir", str(self.state_dir), "--no-user-clouds-yaml"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
        logf.close()
        wait_until(self._api_up, 60, what="octolb API")
        return self

    def _api_up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"octolb up exited:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(self.url + "/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def down(self) -> None:
        subprocess.run([str(BIN / "octolb"), "down", "--config-file", str(self.conf),
                        "--state-dir", str(self.state_dir)], check=False,
                       capture_output=True, timeout=120)

    def close(self) -> None:
        self.kill(signal.SIGTERM)
        self.down()

    # -- clients ------------------------------------------------------------------------
    def openstack(self, *args: str, check: bool = True, parse: bool = True):
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.state_dir / "clouds.yaml")}
        for k in list(env):
            if k.startswith("OS_") and k != "OS_CLIENT_CONFIG_FILE":
                del env[k]
        cmd = [str(BIN / "openstack"), "--os-cloud", "octolb", *args]
        if parse:
            cmd += ["-f", "json"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        if parse and r.returncode == 0 and r.stdout.strip():
            return json.loads(r.stdout)
        return r

    def api(self, method: str, path: str, **kw) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=30, **kw)

    def lb(self, lb_id: str) -> dict:
        return self.api("GET", f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]

    def wait_active(self, lb_id: str, timeout: float = 60) -> dict:
        def ready():
            lb = self.lb(lb_id)
            assert lb["provisioning_status"] != "ERROR", lb
            return lb if lb["provisioning_status"] == "ACTIVE" else None
        return wait_until(ready, timeout, what=f"load balancer {lb_id} ACTIVE")

    def subnet_id(self) -> str:
        return self.api("GET", "/network/v2.0/subnets?name=private-subnet").json()[
            "subnets"][0]["id"]

    def http_lb(self, backend: Backend, name: str = "lb",
                lb_id: str | None = None) -> tuple[str, str]:
        """(LB +) HTTP listener on 80 + pool + one member, through the API, waiting for
        ACTIVE after each step; returns (lb id, VIP)."""
        if lb_id is None:
            r = self.api("POST", "/v2/lbaas/loadbalancers", json={
                "loadbalancer": {"name": name, "vip_subnet_id": self.subnet_id()}})
            assert r.status_code == 201, r.text
            lb_id = r.json()["loadbalancer"]["id"]
        vip = self.wait_active(lb_id)["vip_address"]
        r = self.api("POST", "/v2/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}})
        assert r.status_code == 201, r.text
        self.wait_active(lb_id)
        r = self.api("POST", "/v2/lbaas/pools", json={"pool": {
            "listener_id": r.json()["listener"]["id"], "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN"}})
        assert r.status_code == 201, r.text
        self.wait_active(lb_id)
        r = self.api("POST", f"/v2/lbaas/pools/{r.json()['pool']['id']}/members",
                     json={"member": {"address": backend.host, "protocol_port": backend.port}})
        assert r.status_code == 201, r.text
        self.wait_active(lb_id)
        return lb_id, vip

    def amphorae(self, lb_id: str) -> list[dict]:
        return self.api("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()[
            "amphorae"]


def pids_of_amphora(state_dir: Path, amp_id: str) -> list[int]:
    """Agent and HAProxy master pids recorded under the amphora's directory."""
    pids = []
    for f in (state_dir / "amphorae" / amp_id).rglob("*.pid"):
        try:
            pids.append(int(f.read_text().split()[0]))
        except (ValueError, IndexError):
            pass
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"

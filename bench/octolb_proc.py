"""`octolb up` as a child process on its own state directory, ports and loopback ranges
(the idea of tests/harness.py), and the processes of its amphorae."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .net import free_port, loopback_net, wait_until
from .procs import Child, alive, children, read_pid

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Octolb:
    def __init__(self, state_dir: Path, settings: dict[str, dict[str, object]] | None = None):
        """`settings`: extra octolb.conf options, {section: {option: value}}."""
        self.state_dir = state_dir
        self.api_port = free_port()
        self.hm_port = free_port(kind=socket.SOCK_DGRAM)
        self.vip_net, self.mgmt_net = loopback_net(), loopback_net()
        conf: dict[str, dict[str, object]] = {
            "api_settings": {"bind_port": self.api_port},
            "health_manager": {"bind_port": self.hm_port},
            "networking": {"seed_subnet_cidr": f"127.{self.vip_net}.0.0/16"},
            "compute_local": {"mgmt_cidr": f"127.{self.mgmt_net}.0.0/16"},
        }
        for section, opts in (settings or {}).items():
            conf.setdefault(section, {}).update(opts)
        self.settings = conf
        state_dir.mkdir(parents=True, exist_ok=True)
        self.conf = state_dir / "octolb.conf"
        self.conf.write_text("".join(
            f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
            for sec, opts in conf.items()))
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.log = state_dir / "octolb.log"
        self.child: Child | None = None

    def start(self) -> Octolb:
        self.child = Child([str(BIN / "octolb"), "up", "--config-file", str(self.conf),
                            "--state-dir", str(self.state_dir), "--no-user-clouds-yaml"],
                           log=self.log, cwd=ROOT)
        wait_until(self._api_up, 120, interval=0.1, what="octolb API")
        return self

    def _api_up(self) -> bool:
        if not self.child.alive():
            raise RuntimeError(f"octolb up exited:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(self.url + "/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child and self.child.alive() else None

    def stop_controller(self) -> None:
        """SIGTERM `octolb up` (amphorae keep running, as VMs outlive Octavia)."""
        if self.child is not None:
            self.child.stop(timeout=30)
            self.child = None

    def down(self) -> None:
        """`octolb down --state-dir`: stop every amphora of this state directory."""
        subprocess.run([str(BIN / "octolb"), "down", "--config-file", str(self.conf),
                        "--state-dir", str(self.state_dir)], check=False,
                       capture_output=True, timeout=600, cwd=ROOT)

    def close(self) -> None:
        try:
            self.stop_controller()
        finally:
            self.down()

    # --- amphora processes ---------------------------------------------------------------
    def amphora_dir(self, amp_id: str) -> Path:
        return self.state_dir / "amphorae" / amp_id

    def agent_pid(self, amp_id: str) -> int | None:
        return read_pid(self.amphora_dir(amp_id) / "agent.pid")

    def haproxy_masters(self, amp_id: str) -> list[int]:
        pids = []
        for f in self.amphora_dir(amp_id).glob("*/haproxy.pid"):
            pid = read_pid(f)
            if pid:
                pids.append(pid)
        return pids

    def haproxy_pids(self, amp_id: str) -> list[int]:
        """HAProxy masters of the amphora and their workers."""
        out = []
        for master in self.haproxy_masters(amp_id):
            out += [master, *children(master)]
        return out

    def haproxy_masters_running(self, amp_id: str) -> list[int]:
        """Every HAProxy master of this amphora found in /proc (not by pid file): more than
        one per load balancer means two configurations serve the same VIP at once."""
        needle = str(self.amphora_dir(amp_id)).encode()
        found = []
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            if _is_haproxy_of(pid, needle) and not _is_haproxy_of(parent(pid), needle):
                found.append(pid)
        return found

    def agent_log_count(self, amp_id: str, text: str) -> int:
        try:
            return (self.amphora_dir(amp_id) / "agent.log").read_text(
                errors="replace").count(text)
        except OSError:
            return 0

    def amphora_pids(self, amp_id: str) -> list[int]:
        agent = self.agent_pid(amp_id)
        return ([agent] if agent else []) + self.haproxy_pids(amp_id)




def parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _is_haproxy_of(pid: int, needle: bytes) -> bool:
    if pid <= 1 or not alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.path.basename(args[0]) == b"haproxy" and any(needle in a for a in args)

"""Compute driver ``local``: an amphora is an agent process on its own loopback address.

Each amphora owns ``<amphorae_dir>/<amphora_id>/``::

    agent.ini       the agent's configuration (0600: holds the heartbeat key)
    server.pem      the agent's certificate and key (0600)
    client_ca.pem   the CA that signed the controller's client certificate
    agent.pid       the agent's pid; agent.log its output
    <lb_id>/...     HAProxy files of each load balancer (the agent's base_path is this dir)

Agents run detached (own session, no pipes to us) so they outlive the controller,
even a SIGKILLed one; the pid file lets any controller process find them again.
Every process of an amphora has the amphora directory on its command line, which is
how ``is_running`` recognises the agent and ``delete`` finds anything left over.

HAProxy limits a stats socket path to 97 characters; a rendered
``<base_path>/<lb_id>.sock`` therefore needs ``amphorae_dir`` of at most 18
characters, otherwise render the socket relative to base_path (``unix@<lb_id>.sock``).
"""

from __future__ import annotations

import configparser
import io
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import octolb

from .base import ComputeDriver, ComputeError

AMPHORA_ID_RE = re.compile(r"^[0-9a-f-]{36}$")
AGENT_INI = "agent.ini"
AGENT_PID = "agent.pid"
AGENT_LOG = "agent.log"
SERVER_PEM = "server.pem"
CLIENT_CA = "client_ca.pem"

LOG = logging.getLogger(__name__)

AGENT_STOP_TIMEOUT = 5.0
DEATH_RESCAN_INTERVAL = 1.0
KILL_WAIT = 2.0


class LocalComputeDriver(ComputeDriver):
    def __init__(self, amphorae_dir: Path, python: str | None = None,
                 haproxy_cmd: str = "/usr/sbin/haproxy") -> None:
        self.amphorae_dir = Path(amphorae_dir).absolute()
        self.python = python or sys.executable
        self.haproxy_cmd = haproxy_cmd
        self._lock = threading.Lock()
        self._children: dict[int, subprocess.Popen] = {}
        self._built = threading.Event()  # wakes the death watch: a new agent to watch

    def amphora_dir(self, amphora_id: str) -> Path:
        if not AMPHORA_ID_RE.match(amphora_id):
            raise ValueError(f"invalid amphora id {amphora_id!r}")
        return self.amphorae_dir / amphora_id

    # --- ComputeDriver ---------------------------------------------------------------

    def build(
        self,
        amphora_id: str,
        mgmt_ip: str,
        *,
        server_pem: bytes,
        ca_cert_path: Path,
        heartbeat_key: str,
        heartbeat_destinations: list[str],
        heartbeat_interval: int,
        bind_port: int = 9443,
    ) -> str:
        amp_dir = self.amphora_dir(amphora_id)
        if any(c in heartbeat_key for c in "\r\n"):
            raise ValueError("heartbeat_key must be a single line")
        with self._lock:
            pid = self._agent_pid(amphora_id)
            if pid is not None:
                return str(pid)
            amp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write(amp_dir / SERVER_PEM, server_pem, 0o600)
            _write(amp_dir / CLIENT_CA, Path(ca_cert_path).read_bytes(), 0o644)
            _write(amp_dir / AGENT_INI, self._agent_ini(
                amphora_id, amp_dir, mgmt_ip, bind_port, heartbeat_key,
                heartbeat_destinations, heartbeat_interval,
            ), 0o600)
            pid = self._spawn(amp_dir)
            _write(amp_dir / AGENT_PID, f"{pid}\n".encode(), 0o644)
            self._built.set()
            return str(pid)

    def is_running(self, amphora_id: str) -> bool:
        return self._agent_pid(amphora_id) is not None

    def delete(self, amphora_id: str, graceful: bool = True) -> None:
        amp_dir = self.amphora_dir(amphora_id)
        with self._lock:
            pid = self._agent_pid(amphora_id) if graceful else None
            if pid is not None:
                # The agent stops its HAProxy processes on SIGTERM.
                _signal(pid, signal.SIGTERM)
                if not self._wait_gone([pid], AGENT_STOP_TIMEOUT):
                    _signal(pid, signal.SIGKILL)
                    self._wait_gone([pid], KILL_WAIT)
            # Whatever still runs from this amphora (everything, for a broken amphora that is
            # being replaced; HAProxy of a killed agent; the processes of an amphora whose
            # directory was deleted): found by command line, since pid files can be stale.
            stragglers = [p for p in _all_pids() if _is_amphora_process(p, amp_dir)]
            for p in stragglers:
                _signal(p, signal.SIGKILL)
            if not self._wait_gone(stragglers, KILL_WAIT):
                raise ComputeError(f"processes of amphora {amphora_id} do not die: {stragglers}")
            shutil.rmtree(amp_dir, ignore_errors=True)

    def delete_many(self, amphora_ids: list[str]) -> None:
        """Every agent is told to stop at once and given AGENT_STOP_TIMEOUT in all (not
        each), then one scan of /proc for what still runs (`octolb down` of hundreds of
        amphorae: seconds, not minutes)."""
        dirs = [self.amphora_dir(a) for a in amphora_ids]
        with self._lock:
            agents = [p for p in map(self._agent_pid, amphora_ids) if p is not None]
            for pid in agents:
                _signal(pid, signal.SIGTERM)
            if not self._wait_gone(agents, AGENT_STOP_TIMEOUT):
                late = [p for p in agents if _alive(p)]
                for pid in late:
                    _signal(pid, signal.SIGKILL)
                self._wait_gone(late, KILL_WAIT)
            stragglers = [p for p in _all_pids() if _mentions(p, self.amphorae_dir)
                          and any(_is_amphora_process(p, d) for d in dirs)]
            for pid in stragglers:
                _signal(pid, signal.SIGKILL)
            if not self._wait_gone(stragglers, KILL_WAIT):
                raise ComputeError(f"amphora processes do not die: {stragglers}")
            for amp_dir in dirs:
                shutil.rmtree(amp_dir, ignore_errors=True)

    def agent_config(self, amphora_id: str, mgmt_ip: str, *, heartbeat_key: str,
                     heartbeat_destinations: list[str], heartbeat_interval: int,
                     bind_port: int = 9443) -> bytes:
        return self._agent_ini(amphora_id, self.amphora_dir(amphora_id), mgmt_ip, bind_port,
                               heartbeat_key, heartbeat_destinations, heartbeat_interval)

    def list(self) -> list[str]:
        try:
            names = os.listdir(self.amphorae_dir)
        except FileNotFoundError:
            return []
        return sorted(
            n for n in names if AMPHORA_ID_RE.match(n) and (self.amphorae_dir / n).is_dir()
        )

    def watch_deaths(self, on_death: Callable[[str], None]) -> Callable[[], None]:
        """A thread holds a pidfd per live agent (any controller process on this host can
        do so: the pid files are shared) and reports an agent's exit the moment the kernel
        does, instead of after heartbeat_timeout of silence."""
        stop = threading.Event()
        thread = threading.Thread(target=self._death_watch, args=(on_death, stop),
                                  name="compute-death-watch", daemon=True)
        thread.start()

        def stop_watching() -> None:
            stop.set()
            self._built.set()
            thread.join(timeout=5)

        return stop_watching

    # --- internals -------------------------------------------------------------------

    def _death_watch(self, on_death: Callable[[str], None], stop: threading.Event) -> None:
        poller = select.poll()
        watched: dict[str, tuple[int, int]] = {}  # amphora id -> (pid, pidfd)
        by_fd: dict[int, str] = {}

        def forget(amp_id: str) -> None:
            _pid, fd = watched.pop(amp_id)
            if fd >= 0:
                by_fd.pop(fd, None)
                poller.unregister(fd)
                os.close(fd)

        next_scan = 0.0
        try:
            while not stop.is_set():
                if self._built.is_set() or time.monotonic() >= next_scan:
                    self._built.clear()
                    next_scan = time.monotonic() + DEATH_RESCAN_INTERVAL
                    present = set(self.list())
                    for amp_id in [a for a in watched if a not in present]:
                        forget(amp_id)
                    for amp_id in present:
                        pid = _read_pid(self.amphorae_dir / amp_id / AGENT_PID)
                        if pid is None or watched.get(amp_id, (None,))[0] == pid:
                            continue
                        if amp_id in watched:
                            forget(amp_id)
                        fd = _pidfd(pid, self.amphorae_dir / amp_id)
                        if fd is not None:
                            watched[amp_id] = (pid, fd)
                            by_fd[fd] = amp_id
                            poller.register(fd, select.POLLIN)
                for fd, _event in poller.poll(200):
                    amp_id = by_fd.get(fd)
                    if amp_id is None:
                        continue
                    pid = watched[amp_id][0]
                    self._reap(pid)
                    # forget the fd but remember the pid: a dead agent is reported once
                    poller.unregister(fd)
                    os.close(fd)
                    by_fd.pop(fd, None)
                    watched[amp_id] = (pid, -1)
                    LOG.warning("amphora %s: its agent (pid %d) exited", amp_id, pid)
                    try:
                        on_death(amp_id)
                    except Exception:
                        LOG.exception("death notice of amphora %s not handled", amp_id)
        finally:
            for _pid, fd in watched.values():
                if fd >= 0:
                    os.close(fd)


    def _agent_ini(self, amphora_id: str, amp_dir: Path, mgmt_ip: str, bind_port: int,
                   heartbeat_key: str, destinations: list[str], interval: int) -> bytes:
        ini = configparser.ConfigParser(interpolation=None)
        ini["amphora_agent"] = {
            "amphora_id": amphora_id,
            "agent_server_cert": str(amp_dir / SERVER_PEM),
            "agent_server_ca": str(amp_dir / CLIENT_CA),
        }
        ini["haproxy_amphora"] = {
            "bind_host": mgmt_ip,
            "bind_port": str(bind_port),
            "base_path": str(amp_dir),
            "haproxy_cmd": self.haproxy_cmd,
        }
        ini["health_manager"] = {
            "controller_ip_port_list": ", ".join(destinations),
            "heartbeat_interval": str(interval),
            "heartbeat_key": heartbeat_key,
        }
        out = io.StringIO()
        ini.write(out)
        return out.getvalue().encode()

    def _spawn(self, amp_dir: Path) -> int:
        env = dict(os.environ)
        # The agent must import this very octolb, installed or not.
        package_root = str(Path(octolb.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        log_fd = os.open(amp_dir / AGENT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                [self.python, "-m", "octolb.amphora.agent",
                 "--config-file", str(amp_dir / AGENT_INI)],
                cwd=amp_dir, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                start_new_session=True, close_fds=True, env=env,
            )
        except OSError as exc:
            raise ComputeError(f"cannot start the agent of {amp_dir.name}: {exc}") from exc
        finally:
            os.close(log_fd)
        self._children[proc.pid] = proc
        return proc.pid

    def _agent_pid(self, amphora_id: str) -> int | None:
        """The pid of this amphora's live agent, or None (pids are reused: check cmdline)."""
        amp_dir = self.amphora_dir(amphora_id)
        pid = _read_pid(amp_dir / AGENT_PID)
        if pid is None:
            return None
        self._reap(pid)
        if _alive(pid) and _mentions(pid, amp_dir):
            return pid
        return None

    def _reap(self, pid: int) -> None:
        """Collect an agent we started that has exited, so it does not stay a zombie."""
        proc = self._children.get(pid)
        if proc is not None:
            if proc.poll() is not None:
                self._children.pop(pid, None)
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def _wait_gone(self, pids: list[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            for pid in pids:
                self._reap(pid)
            if not any(_alive(p) for p in pids):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


# Small /proc helpers (the agent has its own; compute does not import the agent).

def _pidfd(pid: int, amp_dir: Path) -> int | None:
    """A pidfd for the amphora's agent, or None if `pid` is gone or is not that agent any
    more (checked after opening: the pidfd pins the process, so the check cannot race a
    reused pid)."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None
    if _alive(pid) and _mentions(pid, amp_dir):
        return fd
    os.close(fd)
    return None


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def _alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def _mentions(pid: int, path: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    needle = os.fsencode(path)
    return any(needle in arg for arg in args)


def _is_amphora_process(pid: int, amp_dir: Path) -> bool:
    """An agent or HAProxy of this amphora (not, say, someone's `tail` of its log)."""
    if pid == os.getpid() or not _alive(pid) or not _mentions(pid, amp_dir):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"haproxy" in os.path.basename(args[0]) or b"octolb.amphora.agent" in args


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

"""HAProxy process control: one master-worker HAProxy per load balancer.

Layout under ``base_path``::

    <lb_id>/haproxy.cfg            the installed configuration
    <lb_id>/haproxy.cfg.new        staging file while validating an upload
    <lb_id>/haproxy.cfg.new-failed the last upload that failed validation
    <lb_id>/haproxy.pid            the master's pid
    <lb_id>/servers-state          `show servers state`, saved before each reload
    <lb_id>/running.cfg            the configuration the running HAProxy serves (loaded
                                   at start or reload, or reached by runtime changes)
    <lb_id>.sock                   the stats socket (as the rendered config declares it)
    ping-wrapper.sh                the PING health check HAProxy runs (external-check)

The master daemonises (``-W -D``) so it outlives the agent; a restarted agent finds
it again through the pid file. HAProxy runs with ``base_path`` as its working
directory, so relative paths in a configuration are relative to ``base_path``.

The pid file alone is not a reliable witness: the master removes and rewrites it
during every reload (for a few milliseconds, longer under load). The agent therefore
remembers the masters it knows, and before starting a master, or when stopping
everything, it also looks for masters in /proc, so that it never starts a second
HAProxy for a load balancer nor leaves one behind.

A master that dies is started again at once (systemd's ``Restart=always`` for Octavia's
amphorae): the agent holds a pidfd on every master it started or found, and the kernel
tells it of the exit. A reload does not look like a death: on SIGUSR2 the master
re-executes itself in place (same pid, and a pidfd survives execve). A slow scan
(``restart_dead``, every ``watchdog_interval``) covers what no pidfd watches: a master
that could not be watched, or a restart that failed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import cfgtext, process, runtime, stats

LOG = logging.getLogger(__name__)

LB_ID_PATTERN = "[0-9a-f-]{36}"
_LB_ID_RE = re.compile(f"^{LB_ID_PATTERN}$")

CONFIG_FILE = "haproxy.cfg"
PID_FILE = "haproxy.pid"
RUNNING_FILE = "running.cfg"
# what the certificate upload endpoint may write into an LB's directory (tenant TLS files)
TLS_FILE = re.compile(r"[A-Za-z0-9_-]{1,64}\.pem")
SERVER_STATE_FILE = "servers-state"

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 15.0
# After a failed reload the master needs a second SIGUSR2: repeat it until a new
# worker shows up. Not too often: a slow but successful reload would run twice.
RELOAD_RESIGNAL = 5.0
STOP_TIMEOUT = 10.0
SOFT_STOP_TIMEOUT = 3.0  # seconds granted to in-flight requests when HAProxy stops
# A master that dies is started again at once, but not more often than this (seconds): an
# HAProxy that keeps dying right after its start is not restarted in a tight loop.
RESTART_INTERVAL = 1.0
COMMAND_TIMEOUT = 60.0

# What a PING health monitor runs: HAProxy's `external-check command <base_path>/<this>`
# (the renderer uses the same name). HAProxy hands over the member's address as the third
# argument and in HAPROXY_SERVER_ADDR, with an empty PATH. The address is checked to be
# made of address characters only and is only ever passed quoted, as one argument.
PING_SCRIPT = "ping-wrapper.sh"
PING_SCRIPT_TEXT = """#!/bin/sh
# PING health check of one member, run by HAProxy (external-check). Written by the octolb
# amphora agent; rewritten at every start and configuration upload.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
addr=${HAPROXY_SERVER_ADDR:-$3}
case "$addr" in
    ""|*[!0-9A-Fa-f.:]*) exit 2 ;;
    *:*) family=-6 ;;
    *) family=-4 ;;
esac
exec ping "$family" -q -n -c 1 -w 1 -- "$addr" >/dev/null 2>&1
"""


class HAProxyError(Exception):
    """An HAProxy operation failed; ``details`` carries HAProxy's output."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidConfig(HAProxyError):
    """``haproxy -c`` rejected a configuration."""


class NoConfig(HAProxyError):
    """The load balancer has no installed configuration."""


def peer_name(amphora_id: str) -> str:
    """HAProxy's ``-L`` local peer name: short (peer names are length-limited), stable."""
    digest = hashlib.sha1(amphora_id.encode()).digest()
    name = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return "x" + name[1:] if name.startswith("-") else name


def is_lb_id(value: str) -> bool:
    return bool(_LB_ID_RE.match(value))


class HAProxyManager:
    def __init__(self, base_path: Path, haproxy_cmd: str, amphora_id: str) -> None:
        self.base_path = base_path
        self.haproxy_cmd = haproxy_cmd
        self.peer_name = peer_name(amphora_id)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._version: str | None = None
        self._masters: dict[str, int] = {}
        self._stopped: set[str] = set()  # LBs stopped on purpose: the watchdog leaves them
        self._missing: set[str] = set()  # LBs the watchdog found without HAProxy once
        # Servers deleted at runtime that still had connections: in maintenance until
        # the watchdog manages to delete them (or a reload/restart drops them).
        self._leftovers: dict[str, set[str]] = {}
        self._unchecked: set[str] = set()  # installed without `haproxy -c` (runtime-capable)
        self._deaths = process.DeathWatch(self._master_exited, name="haproxy-death-watch")
        self._closing = False  # the agent is stopping: no more restarts
        self._restarted: dict[str, float] = {}  # LB -> when its master was last restarted

    # --- paths and files -------------------------------------------------------------

    def lb_dir(self, lb_id: str) -> Path:
        if not is_lb_id(lb_id):
            raise ValueError(f"invalid load balancer id {lb_id!r}")
        return self.base_path / lb_id

    def config_path(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / CONFIG_FILE

    def pid_path(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / PID_FILE

    def load_balancers(self) -> list[str]:
        """Ids of the load balancers with an installed configuration."""
        try:
            names = os.listdir(self.base_path)
        except FileNotFoundError:
            return []
        return sorted(
            n for n in names if is_lb_id(n) and (self.base_path / n / CONFIG_FILE).is_file()
        )

    def read_config(self, lb_id: str) -> bytes | None:
        try:
            return self.config_path(lb_id).read_bytes()
        except FileNotFoundError:
            return None

    def stats_socket(self, lb_id: str) -> Path:
        """Where the stats socket is: as the configuration declares it, else Octavia's place."""
        text = (self.read_config(lb_id) or b"").decode(errors="replace")
        return cfgtext.stats_socket(text, self.base_path) or self.base_path / f"{lb_id}.sock"

    def frontends(self, lb_id: str) -> list[dict[str, str]]:
        return cfgtext.frontends((self.read_config(lb_id) or b"").decode(errors="replace"))

    def lock(self, lb_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(lb_id, threading.RLock())

    def install_helpers(self) -> None:
        """Write the scripts a configuration may name (the PING check) into base_path;
        unchanged files are left alone, a changed one is replaced atomically."""
        path = self.base_path / PING_SCRIPT
        try:
            if path.read_text() == PING_SCRIPT_TEXT:
                return
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        tmp = path.with_name(f".{PING_SCRIPT}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        with os.fdopen(fd, "w") as f:
            f.write(PING_SCRIPT_TEXT)
        os.chmod(tmp, 0o755)  # whatever the umask
        os.replace(tmp, path)

    # --- facts -----------------------------------------------------------------------

    def version(self) -> str:
        """HAProxy's version string (``2.6.12-1+deb12u4``), from ``haproxy -v``."""
        if self._version is None:
            _, out = self._run([self.haproxy_cmd, "-v"])
            match = re.search(r"version (\S+)", out)
            self._version = match.group(1) if match else ""
        return self._version

    def master_pid(self, lb_id: str, thorough: bool = False) -> int | None:
        """The live master of this LB's HAProxy, or None.

        Known master first, then the pid file; ``thorough`` also searches /proc,
        for decisions that must not be fooled by a pid file being rewritten.
        """
        candidates = [self._masters.get(lb_id), process.read_pid(self.pid_path(lb_id))]
        for pid in candidates:
            if pid is not None and self._runs_config(pid, lb_id):
                self._masters[lb_id] = pid
                return pid
        if thorough:
            for pid in self._find_masters(lb_id):
                self._masters[lb_id] = pid
                return pid
        self._masters.pop(lb_id, None)
        return None

    def _runs_config(self, pid: int, lb_id: str) -> bool:
        """True when ``pid`` is an HAProxy running this LB's configuration (pids are reused)."""
        if not process.is_alive(pid):
            return False
        args = process.cmdline(pid)
        return (
            bool(args) and "haproxy" in os.path.basename(args[0])
            and str(self.config_path(lb_id)) in args
        )

    def _find_masters(self, lb_id: str) -> list[int]:
        """Masters of this LB in /proc: HAProxy processes of its configuration whose
        parent is not one (workers carry the same command line as their master)."""
        found = []
        for pid in process.all_pids():
            if self._runs_config(pid, lb_id):
                ppid = process.parent(pid)
                if ppid is None or not self._runs_config(ppid, lb_id):
                    found.append(pid)
        return found

    def is_running(self, lb_id: str) -> bool:
        return self.master_pid(lb_id) is not None

    # --- operations ------------------------------------------------------------------

    def install_config(self, lb_id: str, data: bytes) -> None:
        """Validate ``data`` with ``haproxy -c`` and make it the LB's configuration.

        Does not start or reload HAProxy. On failure the old configuration stays.
        A file that differs from the running configuration only in servers HAProxy can
        change at runtime is not checked here (HAProxy parses each of those lines when
        the reload applies it; when that fails, the reload checks the file).
        """
        with self.lock(lb_id):
            self.install_helpers()
            lb_dir = self.lb_dir(lb_id)
            lb_dir.mkdir(mode=0o700, exist_ok=True)
            staging = lb_dir / f"{CONFIG_FILE}.new"
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if self._runtime_capable(lb_id, data) or (
                    not (lb_dir / CONFIG_FILE).exists()
                    and self.master_pid(lb_id, thorough=True) is None):
                # Runtime-capable, or a first configuration with nothing running: starting
                # HAProxy parses the file anyway (one parse instead of two on every create
                # and failover); a start that fails is checked then (_start).
                os.replace(staging, lb_dir / CONFIG_FILE)
                self._unchecked.add(lb_id)
                return
            rc, out = self._check(staging)
            if rc != 0:
                os.replace(staging, lb_dir / f"{CONFIG_FILE}.new-failed")
                raise InvalidConfig("Invalid request", out)
            os.replace(staging, lb_dir / CONFIG_FILE)
            self._unchecked.discard(lb_id)

    def start(self, lb_id: str) -> None:
        with self.lock(lb_id):
            began = time.time_ns()
            self._stopped.discard(lb_id)
            pid = self.master_pid(lb_id, thorough=True)
            if pid is None:
                self._start(lb_id)
                self._remove_unused_tls_files(lb_id, began)
            else:
                self._watch_master(lb_id, pid)

    def reload(self, lb_id: str) -> str:
        """Load the installed configuration; start HAProxy if it is not running.

        When only servers changed and HAProxy can change them at runtime, they are
        changed through the stats socket instead of a reload (see runtime.py). Returns
        how: "started", "reloaded" or "updated at runtime (...)".
        """
        with self.lock(lb_id):
            began = time.time_ns()
            self._require_config(lb_id)
            self._stopped.discard(lb_id)
            pid = self.master_pid(lb_id, thorough=True)
            if pid is None:
                self._start(lb_id)
                self._remove_unused_tls_files(lb_id, began)
                return "started"
            self._watch_master(lb_id, pid)
            applied = self._apply_at_runtime(lb_id)
            if applied is not None:
                self._remove_unused_tls_files(lb_id, began)
                return applied
            config = self.read_config(lb_id) or b""
            rc, out = self._check(self.config_path(lb_id))
            if rc != 0:
                if lb_id in self._unchecked:  # put back the file HAProxy runs
                    self._unchecked.discard(lb_id)
                    os.replace(self.config_path(lb_id),
                               self.lb_dir(lb_id) / f"{CONFIG_FILE}.new-failed")
                    self._write_file(self.config_path(lb_id),
                                     self._running_path(lb_id).read_bytes())
                    raise InvalidConfig("Invalid request", out)
                raise HAProxyError("Installed configuration is invalid", out)
            self._unchecked.discard(lb_id)
            self._save_server_state(lb_id)
            self._running_path(lb_id).unlink(missing_ok=True)
            self._signal_reload(pid)
            self._leftovers.pop(lb_id, None)
            self._write_running(lb_id, config)
            self._remove_unused_tls_files(lb_id, began)
            return "reloaded"

    def stop(self, lb_id: str) -> None:
        with self.lock(lb_id):
            self._require_config(lb_id)
            self._stopped.add(lb_id)
            self._stop(lb_id)

    def delete(self, lb_id: str) -> None:
        """Stop the LB's HAProxy and remove its files; nothing to do when it is absent."""
        with self.lock(lb_id):
            lb_dir = self.lb_dir(lb_id)
            socket_path = self.stats_socket(lb_id)
            self._stop(lb_id)
            if socket_path.is_socket():
                socket_path.unlink(missing_ok=True)
            shutil.rmtree(lb_dir, ignore_errors=True)

    def start_all(self) -> None:
        """Start every configured LB whose HAProxy is not running (agent start, reboot)."""
        for lb_id in self.load_balancers():
            try:
                self.start(lb_id)
            except HAProxyError as exc:
                LOG.error("cannot start HAProxy of %s: %s\n%s", lb_id, exc.message, exc.details)

    def start_watching(self) -> None:
        """Restart a master the moment it exits (pidfds, see the module docstring)."""
        self._deaths.start()

    def stop_watching(self) -> None:
        self._closing = True
        self._deaths.stop()

    def restart_dead(self) -> list[str]:
        """The slow fallback of the death watch: start again every configured LB whose
        HAProxy died without being asked to stop and whose master no pidfd watches (one
        that could not be watched, a restart that failed). A master that is watched is
        alive: its LB costs no /proc scan."""
        restarted = []
        for lb_id in self.load_balancers():
            if lb_id in self._stopped or self._deaths.pid(lb_id) is not None:
                continue
            with self.lock(lb_id):
                if lb_id in self._stopped or not self.config_path(lb_id).is_file():
                    continue  # stopped or deleted while we waited for the lock
                if self._deaths.pid(lb_id) is not None:
                    continue  # (re)started while we waited for the lock
                pid = self.master_pid(lb_id, thorough=True)
                if pid is not None:
                    self._missing.discard(lb_id)
                    self._watch_master(lb_id, pid)
                    continue
                if lb_id not in self._missing:
                    # Seen missing once: a master in the middle of its re-exec can look
                    # absent for an instant. Restart only when it is still gone next time.
                    self._missing.add(lb_id)
                    continue
                self._missing.discard(lb_id)
                LOG.warning("HAProxy of %s is not running: starting it again", lb_id)
                try:
                    self._start(lb_id)
                    restarted.append(lb_id)
                except HAProxyError as exc:
                    LOG.error("cannot restart HAProxy of %s: %s\n%s", lb_id, exc.message,
                              exc.details)
        return restarted

    def reap_leftovers(self) -> None:
        """Delete the servers left in maintenance by runtime changes once their connections
        are gone (see _apply_at_runtime)."""
        for lb_id in list(self._leftovers):
            with self.lock(lb_id):
                if not self.config_path(lb_id).is_file():
                    self._leftovers.pop(lb_id, None)  # deleted
                elif self.master_pid(lb_id) is not None:
                    self._reap_leftovers(lb_id)

    def stop_all(self) -> None:
        """Stop every running HAProxy of this agent, in parallel."""
        self._closing = True
        threads = [
            threading.Thread(target=self._stop_locked, args=(lb_id,))
            for lb_id in self.load_balancers()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # --- internals -------------------------------------------------------------------

    def _require_config(self, lb_id: str) -> None:
        if not self.config_path(lb_id).is_file():
            raise NoConfig("Loadbalancer Not Found", f"No loadbalancer with UUID: {lb_id}")

    def _check(self, config: Path) -> tuple[int, str]:
        return self._run([self.haproxy_cmd, "-c", "-L", self.peer_name, "-f", str(config)])

    def _start(self, lb_id: str) -> None:
        self._require_config(lb_id)
        config = self.read_config(lb_id) or b""
        self._running_path(lb_id).unlink(missing_ok=True)
        pid_path = self.pid_path(lb_id)
        pid_path.unlink(missing_ok=True)
        rc, out = self._run([
            self.haproxy_cmd, "-W", "-D", "-p", str(pid_path), "-L", self.peer_name,
            "-f", str(self.config_path(lb_id)),
        ])
        if rc != 0:
            if lb_id in self._unchecked:
                # installed unchecked: a configuration HAProxy refuses is the caller's
                # error (400) and does not stay installed; anything else (say, an address
                # that cannot be bound) is HAProxy's
                self._unchecked.discard(lb_id)
                check_rc, check_out = self._check(self.config_path(lb_id))
                if check_rc != 0:
                    os.replace(self.config_path(lb_id),
                               self.lb_dir(lb_id) / f"{CONFIG_FILE}.new-failed")
                    raise InvalidConfig("Invalid request", check_out)
            raise HAProxyError("HAProxy failed to start", out)
        self._unchecked.discard(lb_id)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            pid = self.master_pid(lb_id)
            # Ready when the master handles SIGUSR2: a reload sent earlier would be lost.
            if pid is not None and process.catches_signal(pid, signal.SIGUSR2):
                if not self._watch_master(lb_id, pid) and not process.is_alive(pid):
                    raise HAProxyError("HAProxy exited as it started", out)
                LOG.info("HAProxy of %s started, master pid %d", lb_id, pid)
                self._leftovers.pop(lb_id, None)
                self._write_running(lb_id, config)
                return
            if pid is None:
                # the pid file only ever names the daemonised master of this start
                written = process.read_pid(pid_path)
                if written is not None and not process.is_alive(written):
                    raise HAProxyError("HAProxy exited as it started", out)
            if time.monotonic() >= deadline:
                raise HAProxyError("HAProxy did not come up", out)
            time.sleep(0.01)

    def _signal_reload(self, pid: int) -> None:
        """SIGUSR2 the master and wait for the worker running the new configuration.

        The signal is only sent while the master catches it or keeps it pending
        (blocked, as after a failed reload); ignored, it would be lost, and with the
        default disposition it would kill the master.
        """
        deadline = time.monotonic() + RELOAD_TIMEOUT
        before = process.children(pid)
        next_signal = 0.0
        while True:
            now = time.monotonic()
            if now >= next_signal and process.signal_state(pid, signal.SIGUSR2) in (
                "caught", "blocked"
            ):
                process.send(pid, signal.SIGUSR2)
                next_signal = now + RELOAD_RESIGNAL
            if any(process.is_alive(p) for p in process.children(pid) - before):
                return
            if not process.is_alive(pid):
                raise HAProxyError("HAProxy master exited during reload")
            if now >= deadline:
                raise HAProxyError(
                    "HAProxy did not load the new configuration",
                    f"no new worker within {RELOAD_TIMEOUT:.0f}s of SIGUSR2; the previous "
                    "configuration keeps serving. Typical causes, which `haproxy -c` does "
                    "not detect: an address that cannot be bound, maxconn above what "
                    "RLIMIT_NOFILE allows.",
                )
            time.sleep(0.01)

    def _stop_locked(self, lb_id: str) -> None:
        with self.lock(lb_id):
            self._stop(lb_id)

    def _stop(self, lb_id: str) -> None:
        for _ in range(5):  # normally one master; more only after a lost pid file
            pid = self.master_pid(lb_id, thorough=True)
            if pid is None:
                break
            self._deaths.forget(lb_id)  # an exit asked for is no death to repair
            # Soft stop first (SIGUSR1: stop listening, finish what is in flight; with
            # SO_REUSEPORT another HAProxy may already serve the same address), then the
            # hard stop for whatever has not finished in time.
            process.send(pid, signal.SIGUSR1)
            if not process.wait_dead([pid], SOFT_STOP_TIMEOUT):
                process.terminate(pid, STOP_TIMEOUT)
            self._masters.pop(lb_id, None)
            LOG.info("HAProxy of %s stopped (master pid %d)", lb_id, pid)
        self.pid_path(lb_id).unlink(missing_ok=True)

    def _watch_master(self, lb_id: str, pid: int) -> bool:
        """Hold a pidfd on the LB's master (called under the LB's lock); False when the
        master is gone already or no pidfd could be had."""
        if self._deaths.watch(lb_id, pid, lambda p: self._runs_config(p, lb_id)):
            return True
        if process.is_alive(pid):
            LOG.warning("HAProxy of %s: cannot watch master pid %d; the watchdog scan "
                        "looks after it", lb_id, pid)
        return False

    def _master_exited(self, lb_id: str, pid: int) -> None:
        """From the death watch thread, which must not wait for an LB's lock."""
        if self._closing:
            return
        threading.Thread(target=self._restart_exited, args=(lb_id, pid),
                         name=f"haproxy-restart-{lb_id[:8]}", daemon=True).start()

    def _restart_exited(self, lb_id: str, pid: int) -> None:
        pause = self._restarted.get(lb_id, -RESTART_INTERVAL) + RESTART_INTERVAL
        pause -= time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with self.lock(lb_id):
            if (self._closing or lb_id in self._stopped
                    or not self.config_path(lb_id).is_file()):
                return  # stopping, stopped or deleted meanwhile
            if self._deaths.pid(lb_id) is not None:
                return  # started again while we waited for the lock
            # The dead master's workers can outlive it for a few milliseconds, orphaned,
            # with its command line: a worker ignores SIGUSR2, a master does not.
            masters = [p for p in self._find_masters(lb_id) if p != pid
                       and process.signal_state(p, signal.SIGUSR2) not in ("ignored", "gone")]
            if masters:
                self._masters[lb_id] = masters[0]
                self._watch_master(lb_id, masters[0])
                return
            self._masters.pop(lb_id, None)
            self._missing.discard(lb_id)
            LOG.warning("HAProxy of %s: master pid %d exited: starting it again", lb_id, pid)
            self._restarted[lb_id] = time.monotonic()
            try:
                self._start(lb_id)
            except HAProxyError as exc:
                LOG.error("cannot restart HAProxy of %s: %s\n%s", lb_id, exc.message,
                          exc.details)
                self._master_exited(lb_id, pid)  # again, after RESTART_INTERVAL

    def _running_path(self, lb_id: str) -> Path:
        return self.lb_dir(lb_id) / RUNNING_FILE

    @staticmethod
    def _write_file(target: Path, data: bytes) -> None:
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)

    def _write_running(self, lb_id: str, config: bytes) -> None:
        try:
            self._write_file(self._running_path(lb_id), config)
        except OSError as exc:  # without it the next change reloads: safe
            LOG.warning("cannot record the running configuration of %s: %s", lb_id, exc)

    def _runtime_capable(self, lb_id: str, data: bytes) -> bool:
        """True when `data` differs from what the running HAProxy serves only in changes
        the runtime API can make (see _apply_at_runtime)."""
        try:
            running = self._running_path(lb_id).read_bytes()
        except OSError:
            return False
        if running == data or self.master_pid(lb_id) is None:
            return False
        if self._files_changed_since_load(lb_id):
            return False
        try:
            return bool(runtime.plan(running.decode(errors="replace"),
                                     data.decode(errors="replace")))
        except runtime.NeedsReload:
            return False

    def _reap_leftovers(self, lb_id: str) -> None:
        leftovers = self._leftovers.get(lb_id)
        if not leftovers:
            return
        try:
            remaining = runtime.reap(runtime.socket_query(self.stats_socket(lb_id)), leftovers)
        except OSError as exc:
            LOG.warning("cannot delete leftover servers of %s: %s", lb_id, exc)
            return
        if remaining != leftovers:
            LOG.info("HAProxy of %s: deleted leftover %s", lb_id,
                     ", ".join(sorted(leftovers - remaining)))
        if remaining:
            self._leftovers[lb_id] = remaining
        else:
            self._leftovers.pop(lb_id, None)

    def _files_changed_since_load(self, lb_id: str) -> list[str]:
        """Files of the LB's directory (certificates...) written after HAProxy loaded its
        configuration: only a reload makes HAProxy read them again."""
        own = {CONFIG_FILE, f"{CONFIG_FILE}.new", f"{CONFIG_FILE}.new-failed", PID_FILE,
               SERVER_STATE_FILE, f"{SERVER_STATE_FILE}.tmp", RUNNING_FILE,
               f"{RUNNING_FILE}.tmp", f"{CONFIG_FILE}.tmp"}
        try:
            loaded = self._running_path(lb_id).stat().st_mtime_ns
            return sorted(
                entry.name for entry in os.scandir(self.lb_dir(lb_id))
                if entry.name not in own and entry.stat().st_mtime_ns > loaded)
        except OSError as exc:
            return [f"(cannot tell: {exc})"]

    def _apply_at_runtime(self, lb_id: str) -> str | None:
        """Change the servers of the running HAProxy to the installed file's through the
        stats socket; None when a reload is needed (nothing known to be running, other
        changes, or HAProxy refused a command: the reload then repairs everything)."""
        try:
            running = self._running_path(lb_id).read_bytes()
        except OSError:
            return None
        installed = self.read_config(lb_id) or b""
        if running == installed:
            return None  # an explicit reload of the same file stays a reload
        changed = self._files_changed_since_load(lb_id)
        if changed:
            LOG.info("HAProxy of %s needs a reload: %s changed", lb_id, ", ".join(changed))
            return None
        text = installed.decode(errors="replace")
        try:
            ops = runtime.plan(running.decode(errors="replace"), text)
        except runtime.NeedsReload as exc:
            LOG.info("HAProxy of %s needs a reload: %s", lb_id, exc)
            return None
        if not ops:
            return None
        query = runtime.socket_query(self.stats_socket(lb_id))
        started = time.monotonic()
        try:
            leftovers = self._leftovers.get(lb_id, set()) | runtime.apply(query, ops)
            runtime.verify(query, text, ops, frozenset(leftovers))
        except (runtime.ApplyError, OSError) as exc:
            LOG.warning("runtime change of %s failed, reloading instead: %s", lb_id, exc)
            return None
        self._unchecked.discard(lb_id)
        if leftovers:
            LOG.info("HAProxy of %s: %s in maintenance until their connections close",
                     lb_id, ", ".join(sorted(leftovers)))
            self._leftovers[lb_id] = leftovers
        self._write_running(lb_id, installed)
        summary = ", ".join(f"{op.kind} {op.backend}/{op.server}" for op in ops)
        LOG.info("HAProxy of %s updated at runtime in %.1f ms: %s", lb_id,
                 (time.monotonic() - started) * 1000, summary)
        return f"updated at runtime ({len(ops)} change{'s' if len(ops) != 1 else ''})"

    def unused_tls_files(self, lb_id: str) -> list[str] | None:
        """The tenant TLS files of the LB's directory that its installed configuration does
        not use: neither names (`crt-list`, `crt`, `ca-file`, `crl-file`) nor lists in a
        crt-list it names. None when that cannot be told (a crt-list unreadable, or TLS
        files named by another path than the directory's): then nothing is unused."""
        lb_dir = self.lb_dir(lb_id)
        text = (self.read_config(lb_id) or b"").decode(errors="replace")
        used, crt_lists, elsewhere = cfgtext.files_named(text, lb_dir)
        if elsewhere:
            return None
        for name in crt_lists:
            try:
                entries = cfgtext.crt_list_paths((lb_dir / name).read_text())
            except (OSError, UnicodeDecodeError):
                return None
            for entry in entries:
                if Path(entry).parent != lb_dir:
                    return None
                used.add(Path(entry).name)
        try:
            names = os.listdir(lb_dir)
        except OSError:
            return None
        return sorted(n for n in names if TLS_FILE.fullmatch(n) and n not in used)

    def _remove_unused_tls_files(self, lb_id: str, written_before_ns: int) -> None:
        """After HAProxy loaded the installed configuration (started, reloaded: its new
        worker runs; the old one keeps what it loaded in memory): remove the tenant TLS
        files that configuration does not use, the certificates of a listener or pool whose
        reference changed. A file written since the apply began stays: it was uploaded for
        the next configuration."""
        unused = self.unused_tls_files(lb_id)
        if not unused:
            return
        removed = []
        for name in unused:
            path = self.lb_dir(lb_id) / name
            try:
                if path.stat().st_mtime_ns <= written_before_ns:
                    path.unlink()
                    removed.append(name)
            except OSError as exc:
                LOG.warning("HAProxy of %s: cannot remove unused %s: %s", lb_id, name, exc)
        if removed:
            LOG.info("HAProxy of %s: removed TLS files no longer used: %s", lb_id,
                     ", ".join(removed))

    def _save_server_state(self, lb_id: str) -> None:
        """Keep health states across the reload (used by ``server-state-file`` configs)."""
        try:
            state = stats.query(self.stats_socket(lb_id), "show servers state")
            target = self.lb_dir(lb_id) / SERVER_STATE_FILE
            tmp = target.with_name(SERVER_STATE_FILE + ".tmp")
            tmp.write_text(state)
            os.replace(tmp, target)
        except OSError as exc:
            LOG.warning("cannot save server state of %s: %s", lb_id, exc)

    def _run(self, args: list[str]) -> tuple[int, str]:
        """Run an HAProxy command in ``base_path``; output goes through a file, not a
        pipe, so a daemonising HAProxy cannot keep us waiting for EOF."""
        with tempfile.TemporaryFile() as out:
            try:
                proc = subprocess.run(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=self.base_path, timeout=COMMAND_TIMEOUT, check=False,
                )
                rc = proc.returncode
            except (OSError, subprocess.TimeoutExpired) as exc:
                return 1, f"cannot run {args[0]}: {exc}"
            out.seek(0)
            return rc, out.read().decode(errors="replace")

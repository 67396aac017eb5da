"""Linux process facts from /proc: liveness (zombies count as dead), children, signals;
and DeathWatch, which learns of a process's exit through a pidfd.

HAProxy masters run daemonised, so they are not our children and may linger as
zombies when the init process does not reap them; every check here goes by /proc.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

LOG = logging.getLogger(__name__)


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    if not text or not text[0].isdigit():
        return None
    pid = int(text[0])
    return pid if pid > 1 else None


def is_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold ')'.
    state = stat[stat.rfind(")") + 2:][:1]
    return state not in ("Z", "X", "")


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (all its threads), from /proc/<pid>/task/*/children."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        found.update(int(p) for p in text.split())
    return found


def signal_state(pid: int, signum: int) -> str:
    """How ``pid`` would take ``signum`` now: caught, blocked (kept pending), ignored,
    default, or gone. Sending is only safe when caught or blocked."""
    masks: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("SigCgt", "SigBlk", "SigIgn"):
                masks[name] = int(value.strip(), 16)
    except (OSError, ValueError):
        return "gone"
    bit = 1 << (signum - 1)
    for name, state in (("SigCgt", "caught"), ("SigBlk", "blocked"), ("SigIgn", "ignored")):
        if masks.get(name, 0) & bit:
            return state
    return "default" if masks else "gone"


def catches_signal(pid: int, signum: int) -> bool:
    """True once ``pid`` has installed a handler for ``signum``."""
    return signal_state(pid, signum) == "caught"


def send(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_dead(pids: set[int] | list[int], timeout: float) -> bool:
    """Poll until none of ``pids`` is alive; True if that happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if not any(is_alive(p) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM ``pid``, and SIGKILL it and its children if it outlives ``timeout``."""
    kids = children(pid)
    send(pid, signal.SIGTERM)
    if wait_dead([pid], timeout):
        # Children normally exit with their master; make sure of it.
        wait_dead(kids, 1.0)
        for kid in kids:
            if is_alive(kid):
                send(kid, signal.SIGKILL)
        return
    kids |= children(pid)
    for p in [pid, *kids]:
        send(p, signal.SIGKILL)
    wait_dead([pid, *kids], 2.0)


class DeathWatch:
    """Reports the exit of watched processes the moment the kernel does, through pidfds.

    A pidfd turns readable when its process exits (whether or not anyone reaps it) and
    stays attached across execve, so a process that re-executes itself in place (an
    HAProxy master reloading) stays watched and is not reported. Each process is watched
    under a key; ``on_exit(key, pid)`` is called once per exit, from the watch thread, so
    it must not block for long. Processes not watched (forgotten, or replaced by a watch
    of another pid under the same key) are not reported.

    pidfds are closed only by the watch thread while it is not polling (or directly when
    the thread does not run), so a descriptor number is never reused under a poll.
    """

    def __init__(self, on_exit: Callable[[str, int], None], name: str = "death-watch") -> None:
        self._on_exit = on_exit
        self._name = name
        self._guard = threading.Lock()
        self._watched: dict[str, tuple[int, int]] = {}  # key -> (pid, pidfd)
        self._retired: list[int] = []  # pidfds to close, by the watch thread
        self._wake_fds: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._running = False  # the thread polls (and so closes retired pidfds)
        self._stopping = threading.Event()

    def watch(self, key: str, pid: int, still_it: Callable[[int], bool]) -> bool:
        """Watch ``pid`` under ``key`` (instead of what was watched under it). ``still_it``
        is asked once the pidfd is open: the pidfd pins the process, so a pid that was
        reused meanwhile is noticed. False when the process is gone or is not it."""
        with self._guard:
            if self._watched.get(key, (None, -1))[0] == pid:
                return True
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return False
        if not still_it(pid):
            os.close(fd)
            return False
        with self._guard:
            old = self._watched.get(key)
            if old is not None and old[0] == pid:  # watched meanwhile by another thread
                self._retire(fd)
                return True
            if old is not None:
                self._retire(old[1])
            self._watched[key] = (pid, fd)
        self._wake()
        return True

    def forget(self, key: str) -> None:
        """Stop watching ``key``: its exit, even one already under way, is not reported."""
        with self._guard:
            old = self._watched.pop(key, None)
            if old is None:
                return
            self._retire(old[1])
        self._wake()

    def pid(self, key: str) -> int | None:
        """The pid watched under ``key``; None once it exited (or was never watched)."""
        with self._guard:
            entry = self._watched.get(key)
        return None if entry is None else entry[0]

    def start(self) -> None:
        if self._thread is not None:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        with self._guard:
            self._wake_fds = (read_fd, write_fd)
            self._running = True
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close every pidfd: nothing is reported any more."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake()
        thread.join(timeout=5)
        self._thread = None

    # --- internals -------------------------------------------------------------------

    def _retire(self, fd: int) -> None:
        """Close ``fd`` (called under the guard): later by the thread when it runs."""
        if self._running:
            self._retired.append(fd)
        else:
            os.close(fd)

    def _wake(self) -> None:
        with self._guard:
            fds = self._wake_fds
            if fds is None:
                return
            try:
                os.write(fds[1], b"x")
            except BlockingIOError:  # already awake
                pass

    def _run(self) -> None:
        assert self._wake_fds is not None
        wake_r = self._wake_fds[0]
        try:
            while not self._stopping.is_set():
                with self._guard:
                    for fd in self._retired:
                        os.close(fd)
                    self._retired.clear()
                    by_fd = {fd: (key, pid) for key, (pid, fd) in self._watched.items()}
                poller = select.poll()
                poller.register(wake_r, select.POLLIN)
                for fd in by_fd:
                    poller.register(fd, select.POLLIN)
                events = poller.poll(1000)
                exited = []
                for fd, _event in events:
                    if fd == wake_r:
                        try:
                            while os.read(wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                        continue
                    key, pid = by_fd[fd]
                    with self._guard:
                        if self._watched.get(key) != (pid, fd):
                            continue  # forgotten or replaced meanwhile: not reported
                        del self._watched[key]
                        self._retired.append(fd)
                    exited.append((key, pid))
                for key, pid in exited:
                    try:
                        self._on_exit(key, pid)
                    except Exception:
                        LOG.exception("exit of pid %d (%s) not handled", pid, key)
        finally:
            with self._guard:
                self._running = False
                for fd in self._retired:
                    os.close(fd)
                self._retired.clear()
                for _pid, fd in self._watched.values():
                    os.close(fd)
                self._watched.clear()
                read_fd, write_fd = self._wake_fds
                self._wake_fds = None
                os.close(read_fd)
                os.close(write_fd)

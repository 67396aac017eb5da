"""Linux process facts from /proc: liveness (zombies count as dead), children, signals.

HAProxy masters run daemonised, so they are not our children and may linger as
zombies when the init process does not reap them; every check here goes by /proc.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


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

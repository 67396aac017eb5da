"""Free ports and waiting for a condition: what code that starts octolb's processes on the
loopback network needs (the end-to-end test harness, the benchmarks). Standard library only."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing is bound to on `host` right now (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1,
               what: str = "condition", error: type[Exception] = TimeoutError):
    """Poll `predicate` until it returns something true, and return that. An exception it
    raises counts as not yet; on timeout, `error` names the last answer or exception."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last = exc
        time.sleep(interval)
    raise error(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")

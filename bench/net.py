"""Free ports and loopback ranges: everything the benchmark binds lives in 127.0.0.0/8."""

from __future__ import annotations

import random
import socket
import time

from octolb.netutil import free_port, wait_until

__all__ = ["free_port", "loopback_net", "wait_port", "wait_until"]

_used: set[int] = set()


def loopback_net() -> int:
    """A random second octet X for 127.X.0.0/16, away from octolb's defaults (127.0-2) and
    from ranges already handed out by this run."""
    x = random.choice([n for n in range(30, 250) if n not in _used])
    _used.add(x)
    return x


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.05)

"""wrk from Debian: run it for a bounded time and parse its report."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from .procs import Child

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m[1]) * _UNITS[m[2]]


def parse(out: str) -> dict:
    """requests, duration_s, rps, p50/p99 latency (ms), errors (socket + non-2xx/3xx)."""
    res: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if m:
        res["requests"] = int(m[1])
        res["duration_s"] = _ms(m[2] + m[3]) / 1e3
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m[1]) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m[1]) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             map(int, m.groups()), strict=True)) if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m[1]) if m else 0
    res["socket_errors"] = socket_errors
    res["errors"] = sum(socket_errors.values()) + res["non_2xx"]
    return res


def command(url: str, duration: float, connections: int = 50, threads: int = 2,
            script: Path | None = None, timeout_s: int = 5) -> list[str]:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(round(duration))}s",
            "--latency", f"--timeout={timeout_s}s"]
    if script:
        args += ["-s", str(script)]
    return [*args, url]


def run(url: str, duration: float, connections: int = 50, threads: int = 2,
        script: Path | None = None) -> dict:
    """One bounded wrk run (keep-alive, as wrk always does)."""
    r = subprocess.run(command(url, duration, connections, threads, script),
                       capture_output=True, text=True, timeout=duration + 60)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr.strip()}")
    return parse(r.stdout)


class Background:
    """wrk running until `finish()`: started with a long duration, stopped with SIGINT,
    on which wrk prints its report as usual."""

    def __init__(self, url: str, log: Path, max_duration: float, connections: int = 50,
                 threads: int = 2) -> None:
        self.log = log
        self.child = Child(command(url, max_duration, connections, threads), log=log,
                           stop_signal=signal.SIGINT)

    def finish(self) -> dict:
        self.child.stop(timeout=15)
        return parse(self.log.read_text())

    def stop(self) -> None:
        self.child.stop(timeout=5)

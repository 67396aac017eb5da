"""Machine facts printed with every result: CPU, cores, memory, kernel, tool versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import re
import resource
import subprocess
from pathlib import Path


def _first(args: list[str], pattern: str) -> str | None:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1) if m else None


def tree_state() -> dict:
    """The commit and how the working tree differs from it (others edit while we run)."""
    root = str(Path(__file__).resolve().parent.parent)
    try:
        status = subprocess.run(["git", "-C", root, "status", "--porcelain"],
                                capture_output=True, text=True, timeout=30).stdout
        diff = subprocess.run(["git", "-C", root, "diff", "HEAD"], capture_output=True,
                              timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    changed = [line[3:] for line in status.splitlines()
               if not line[3:].startswith(("bench/", "docs/benchmarks.md"))]
    return {"changed_files": len(changed), "diff_sha1": hashlib.sha1(diff).hexdigest()[:12],
            "changed": changed[:40]}


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def facts() -> dict:
    cpu = None
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                   .splitlines() if line.startswith("MemTotal"))
    os_name = None
    try:
        os_name = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())[1]
    except (OSError, TypeError):
        pass
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "hostname": platform.node(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "haproxy": _first(["/usr/sbin/haproxy", "-v"], r"version (\S+)"),
        "nginx": _first(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": _first(["wrk", "-v"], r"wrk (\S+)"),
        "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "pid_max": int(Path("/proc/sys/kernel/pid_max").read_text()),
        "working_tree": tree_state(),
        "octolb_commit": _first(["git", "-C", str(Path(__file__).resolve().parent.parent),
                                 "rev-parse", "--short", "HEAD"], r"(\S+)"),
    }

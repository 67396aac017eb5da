"""Host inventory for ``GET /1.0/info`` and ``GET /1.0/details``."""

from __future__ import annotations

import os
import resource
import socket
from pathlib import Path

from . import API_VERSION
from .haproxy import HAProxyManager


def info(haproxy: HAProxyManager) -> dict:
    return {
        "hostname": socket.gethostname(),
        "haproxy_version": haproxy.version(),
        "api_version": API_VERSION,
        "keepalived_version": None,
        "ipvsadm_version": None,
    }


def details(haproxy: HAProxyManager) -> dict:
    lbs = haproxy.load_balancers()
    listeners = sorted(f["uuid"] for lb in lbs for f in haproxy.frontends(lb))
    return {
        **info(haproxy),
        "active": True,
        "haproxy_count": sum(1 for lb in lbs if haproxy.is_running(lb)),
        "lvs_listener_process_count": 0,
        "cpu_count": os.cpu_count() or 1,
        "cpu": _cpu(),
        "memory": _memory(),
        "disk": _disk(haproxy.base_path),
        "load": _load(),
        "networks": {},
        "active_tuned_profiles": "",
        "topology": "SINGLE",
        "topology_status": "OK",
        "listeners": listeners,
        "packages": {},
        # Extensions: what the renderer needs to produce a configuration that starts.
        "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "base_path": str(haproxy.base_path),
    }


def _cpu() -> dict:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq = (int(v) for v in fields[:7])
    except (OSError, ValueError, IndexError):
        return {}
    total = user + nice + system + idle + iowait + irq + softirq
    return {"total": total, "user": user, "system": system, "soft_irq": softirq}


def _memory() -> dict:
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return {
        "total": values.get("MemTotal", 0),
        "free": values.get("MemFree", 0),
        "available": values.get("MemAvailable", 0),
        "buffers": values.get("Buffers", 0),
        "cached": values.get("Cached", 0),
        "swap_used": values.get("SwapTotal", 0) - values.get("SwapFree", 0),
        "shared": values.get("Shmem", 0),
        "slab": values.get("Slab", 0),
    }


def _disk(path: Path) -> dict:
    try:
        st = os.statvfs(path)
    except OSError:
        return {}
    return {
        "used": (st.f_blocks - st.f_bfree) * st.f_frsize,
        "available": st.f_bavail * st.f_frsize,
    }


def _load() -> list[str]:
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return []

"""Suite-wide checks: data-plane tests need HAProxy and the right to bind port 80 (the
quick-start's listener). Where either is truly absent they skip, and say so loudly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HAPROXY = "/usr/sbin/haproxy"


def _data_plane_missing() -> str | None:
    if not os.path.exists(HAPROXY):
        return f"{HAPROXY} is not installed (`make test` installs it)"
    unprivileged = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if os.geteuid() != 0 and unprivileged > 80:
        return "binding port 80 needs root or net.ipv4.ip_unprivileged_port_start <= 80"
    return None


def pytest_collection_modifyitems(config, items):
    why = _data_plane_missing()
    if why is None:
        return
    marker = pytest.mark.skip(reason=f"!!! DATA PLANE NOT TESTED: {why} !!!")
    for item in items:
        if any(part in ("e2e", "reliability") for part in Path(str(item.fspath)).parts):
            item.add_marker(marker)


def pytest_terminal_summary(terminalreporter):
    why = _data_plane_missing()
    if why is not None:
        terminalreporter.write_line(f"!!! e2e and reliability tests were SKIPPED: {why} !!!",
                                    red=True, bold=True)

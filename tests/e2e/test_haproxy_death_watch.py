"""The agent's HAProxyManager with real HAProxy: a master that dies is started again by the
pidfd death watch alone, with no watchdog scan at all (restart_dead is never called here),
while reloads and asked-for stops are not taken for deaths."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from octolb.amphora.agent.haproxy import HAProxyManager
from octolb.amphora.agent.process import all_pids, children, cmdline, is_alive
from tests.e2e.test_agent import eventually, free_address, port_open

pytestmark = pytest.mark.skipif(
    not os.access("/usr/sbin/haproxy", os.X_OK), reason="needs HAProxy"
)


def config(ip: str, port: int, maxconn: int = 100) -> bytes:
    return f"""\
global
    maxconn {maxconn}
    nbthread 1
    hard-stop-after 5s

defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    option idle-close-on-response

frontend fe
    bind {ip}:{port}
    http-request return status 200
""".encode()


class Case:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.lb_id = str(uuid.uuid4())
        self.ip, self.port = free_address()
        self.manager = HAProxyManager(base, "/usr/sbin/haproxy", str(uuid.uuid4()))
        self.starts = 0  # HAProxy starts begun...
        self.started = 0  # ...and done
        start = self.manager._start

        def counting_start(lb_id: str) -> None:
            self.starts += 1
            start(lb_id)
            self.started += 1

        self.manager._start = counting_start  # type: ignore[method-assign]

    def master(self) -> int | None:
        return self.manager.master_pid(self.lb_id)

    def processes(self) -> list[int]:
        """Every process running this LB's configuration (masters and workers)."""
        needle = str(self.manager.config_path(self.lb_id))
        return [p for p in all_pids() if needle in cmdline(p)]

    def kill_haproxy(self) -> int:
        master = self.master()
        assert master is not None
        for pid in [master, *children(master)]:
            os.kill(pid, signal.SIGKILL)
        return master

    def replaced(self, old: int) -> int | None:
        new = self.master()
        return new if new not in (None, old) and is_alive(new) else None


@pytest.fixture
def case() -> Iterator[Case]:
    base = Path(tempfile.mkdtemp(prefix="olbw", dir="/tmp"))  # short: socket paths
    case = Case(base)
    case.manager.install_config(case.lb_id, config(case.ip, case.port))
    case.manager.start(case.lb_id)
    case.manager.start_watching()
    try:
        yield case
    finally:
        case.manager.stop_watching()
        case.manager.stop_all()
        for pid in case.processes():  # whatever a failed test left behind
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def test_a_killed_master_is_replaced_without_any_watchdog_scan(case):
    assert port_open(case.ip, case.port)
    old = case.kill_haproxy()

    new = eventually(lambda: case.replaced(old), what="a new HAProxy master")
    eventually(lambda: port_open(case.ip, case.port), what="the VIP serves again")
    eventually(lambda: case.started == 2, what="the restart done")
    assert case.starts == 2  # the first start and the restart, nothing more

    # the new master is watched too: a second death is repaired the same way
    case.kill_haproxy()
    eventually(lambda: case.replaced(new), what="another HAProxy master")
    eventually(lambda: port_open(case.ip, case.port), what="the VIP serves again")


def test_reloads_are_no_deaths_and_the_master_stays_watched_across_them(case):
    master = case.master()
    for maxconn in (101, 102, 103, 104, 105):
        case.manager.install_config(case.lb_id, config(case.ip, case.port, maxconn))
        assert case.manager.reload(case.lb_id) == "reloaded"
        assert case.master() == master  # SIGUSR2: the master re-executes in place
    assert port_open(case.ip, case.port)
    assert case.starts == 1

    # after five re-executions, its death is still seen
    case.kill_haproxy()
    eventually(lambda: case.replaced(master), what="a new HAProxy master")
    eventually(lambda: case.started == 2, what="the restart done")
    assert case.starts == 2


def test_a_master_killed_while_it_starts_is_started_again(case):
    # the death watch holds the new master's pidfd from its first sight, before it is
    # ready, and a restart soon after the previous one waits RESTART_INTERVAL
    old = case.kill_haproxy()
    first = eventually(lambda: case.replaced(old), timeout=10.0, what="a new master")
    os.kill(first, signal.SIGKILL)
    eventually(lambda: case.replaced(first), what="another HAProxy master")
    eventually(lambda: port_open(case.ip, case.port), what="the VIP serves again")


def test_a_stopped_or_deleted_haproxy_is_not_started_again(case):
    master = case.master()
    case.manager.stop(case.lb_id)
    assert not is_alive(master)
    case.manager.start(case.lb_id)
    restarted = case.master()
    assert restarted not in (None, master)

    case.manager.delete(case.lb_id)
    assert not is_alive(restarted)
    # nothing comes back (a restart would have run long before this)
    with pytest.raises(AssertionError):
        eventually(case.processes, timeout=1.0)
    assert case.starts == 2

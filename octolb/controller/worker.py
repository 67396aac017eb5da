"""The worker: threads that take load balancer ids from the bus and reconcile them, plus a
sweep that finds pending work nobody announced (a restart, a lost message, another API)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from octolb.controller import reconcile
from octolb.controller.bus import InProcessBus
from octolb.db.session import is_retriable

LOG = logging.getLogger(__name__)


def worker_id() -> str:
    """host:pid:thread — leases are per reconcile thread, so two threads of one process
    never work on the same load balancer."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker:
    def __init__(self, bus: InProcessBus, drivers: reconcile.Drivers, threads: int = 4,
                 sweep_interval: float = 10.0):
        self.bus = bus
        self.drivers = drivers
        self.threads = threads
        self.sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        reconcile.release_dead_local_leases()
        self.sweep(startup=True)
        for i in range(self.threads):
            t = threading.Thread(target=self._consume, name=f"reconcile-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._sweeper, name="reconcile-sweep", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.bus.close(self.threads)
        for t in self._threads:
            t.join(timeout=5)

    def sweep(self, startup: bool = False) -> None:
        ids = reconcile.pending_load_balancers()
        if startup:
            # Amphorae outlive the controller: running ones are adopted as they are; only
            # those that are gone (e.g. `octolb down`) are started again.
            ids += reconcile.dead_amphora_load_balancers(self.drivers)
        for lb_id in ids:
            self.bus.notify(lb_id)

    def _sweeper(self) -> None:
        while not self._stop.wait(self.sweep_interval):
            try:
                self.sweep()
            except Exception:
                LOG.exception("sweep failed")

    def _later(self, seconds: float, lb_id: str) -> None:
        timer = threading.Timer(seconds, self.bus.notify, (lb_id,))
        timer.daemon = True
        timer.start()

    def _consume(self) -> None:
        while not self._stop.is_set():
            lb_id = self.bus.receive(timeout=1.0)
            if lb_id is None:
                continue
            if isinstance(lb_id, tuple):  # ("configure" | "delete", amphora id)
                kind, amp_id = lb_id
                try:
                    if kind == "delete":
                        reconcile.delete_amphora(amp_id, self.drivers, graceful=False)
                    else:
                        reconcile.push_agent_config(amp_id, self.drivers)
                except Exception:
                    LOG.exception("%s of amphora %s failed", kind, amp_id)
                continue
            try:
                outcome = reconcile.reconcile(lb_id, self.drivers, worker_id())
                if outcome is False:
                    # another worker holds it; look again once it is likely done
                    self._later(0.5, lb_id)
                elif outcome is not True:
                    self._later(float(outcome), lb_id)  # a failover retry's back-off
            except Exception as exc:
                if is_retriable(exc):  # every step is idempotent: the whole reconcile again
                    LOG.warning("reconcile of %s: database busy (%s); retrying in 2 s", lb_id,
                                getattr(exc, "orig", exc))
                else:
                    LOG.exception("reconcile of %s crashed; retrying in 2 s", lb_id)
                self._later(2.0, lb_id)

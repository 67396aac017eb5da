"""The health manager: receives signed UDP heartbeats, refreshes amphora health, maps HAProxy
statuses to operating_status (Octavia §6.2), adds statistics, and asks for a failover of an
amphora that went silent (§6.3)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import queue
import socket
import threading
import time
import zlib

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb import metrics
from octolb.controller.bus import Bus
from octolb.controller.stats import update_stats
from octolb.db.models import Amphora, AmphoraHealth, LoadBalancer, utcnow
from octolb.db.session import transaction

LOG = logging.getLogger(__name__)
BATCH_SIZE = 500
MAX_BACKLOG = 20000


def unwrap(datagram: bytes, key: str) -> dict | None:
    """payload || hex HMAC-SHA256 (or, from old agents, the 32-byte raw digest)."""
    k = key.encode()
    for size, digest in ((64, lambda p: hmac.new(k, p, hashlib.sha256).hexdigest().encode()),
                         (32, lambda p: hmac.new(k, p, hashlib.sha256).digest())):
        if len(datagram) <= size:
            continue
        payload, sig = datagram[:-size], datagram[-size:]
        if hmac.compare_digest(sig, digest(payload)):
            try:
                return json.loads(zlib.decompress(payload))
            except (zlib.error, ValueError):
                return None
    return None


def _member_status(reported: str) -> str | None:
    r = reported.upper()
    if r.startswith("UP"):
        return c.ONLINE
    if r.startswith("DOWN"):
        return c.ERROR
    if r == "DRAIN":
        return c.DRAINING
    if r == "MAINT":
        return c.OFFLINE
    if r == "NO CHECK":
        return c.NO_MONITOR
    return None


def _set(obj, status: str | None) -> None:
    if status is not None and (obj.operating_status or "").upper() != status:
        obj.operating_status = status


def update_health(s: Session, msg: dict, heartbeat_interval: float) -> None:
    amp = s.get(Amphora, msg.get("id"))
    if amp is None or amp.status == c.DELETED or amp.load_balancer is None:
        return  # zombies are the housekeeping's business
    lb = amp.load_balancer
    if lb.provisioning_status == c.DELETED:
        return
    listeners = msg.get("listeners") or {}
    # Listeners the amphora should serve (one that failed to provision is not there).
    enabled = [lis for lis in lb.listeners if lis.enabled and lis.provisioning_status != c.ERROR]
    pending = lb.provisioning_status in c.PENDING_STATUSES or not lb.enabled
    if pending or len(listeners) == len(enabled):
        if time.time() - msg.get("recv_time", time.time()) < heartbeat_interval:
            AmphoraHealth.touch(s, amp.id)
            if amp.status == c.FAILOVER_STOPPED:
                LOG.warning("amphora %s reports again: back in service", amp.id)
                amp.status = c.ALLOCATED
    else:
        LOG.warning("amphora %s reports %d listeners, expected %d", amp.id, len(listeners),
                    len(enabled))

    lb_status = c.ONLINE if lb.enabled else c.OFFLINE
    for lis in lb.listeners:
        entry = listeners.get(lis.id)
        if entry is None:
            _set(lis, c.ERROR if lis.enabled and lb.provisioning_status == c.ACTIVE
                 else c.OFFLINE)
        elif entry.get("status") == "OPEN":
            _set(lis, c.ONLINE)
        elif entry.get("status") == "FULL":
            _set(lis, c.DEGRADED)
            if lb_status == c.ONLINE:
                lb_status = c.DEGRADED

    pools = {}
    for key, entry in (msg.get("pools") or {}).items():
        pools.setdefault(key.rsplit(":", 1)[0], entry)
    for pool in lb.pools:
        entry = pools.get(pool.id)
        if entry is None:
            _set(pool, c.OFFLINE)
            continue
        status = entry.get("status")
        pool_status = {"UP": c.ONLINE, "DOWN": c.ERROR}.get(status)
        if pool_status == c.ERROR:
            lb_status = c.ERROR
        members = entry.get("members") or {}
        for m in pool.members:
            reported = members.get(m.id)
            if reported is None:
                if m.operating_status != c.NO_MONITOR:
                    _set(m, c.OFFLINE)
                continue
            new = _member_status(reported)
            if new is None and reported.upper() != "RESTARTING":
                LOG.debug("member %s: unknown status %r", m.id, reported)
            _set(m, new)
            if new == c.ERROR and pool_status == c.ONLINE:
                pool_status = c.DEGRADED
                if lb_status == c.ONLINE:
                    lb_status = c.DEGRADED
        _set(pool, pool_status)
    _set(lb, lb_status)


class HealthManager:
    """UDP receiver + stale-amphora checker, as threads of the controller process."""

    def __init__(self, bind_ip: str, bind_port: int, key: str, bus: Bus,
                 heartbeat_interval: float, heartbeat_timeout: float,
                 check_interval: float = 3.0, failover_threshold: int | None = None):
        self.key = key
        self.failover_threshold = failover_threshold
        self.bus = bus
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.check_interval = check_interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((bind_ip, bind_port))
        self.sock.settimeout(1.0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._inbox: queue.Queue[dict] = queue.Queue()
        self.lag = 0.0  # seconds between receiving and processing the current batch
        self.received = 0

    def start(self) -> None:
        for target, name in ((self._receive, "health-receiver"), (self._process, "health-update"),
                             (self._check, "health-check")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.sock.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = unwrap(data, self.key)
            metrics.inc("octolb_heartbeats_total", "Heartbeats received, by result.",
                        result="rejected" if msg is None else "accepted")
            if msg is None:
                LOG.warning("dropped a heartbeat from %s: bad signature or payload", addr[0])
                continue
            msg["recv_time"] = time.time()
            self.received += 1
            if self._inbox.qsize() < MAX_BACKLOG:
                self._inbox.put(msg)

    def _process(self) -> None:
        """Heartbeats in batches, one transaction per batch: one commit for many amphorae
        (one per heartbeat does not keep up with hundreds of amphorae on SQLite)."""
        while not self._stop.is_set():
            try:
                batch = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                self.lag = 0.0
                continue
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self.lag = time.time() - batch[0]["recv_time"]
            try:
                with transaction() as s:
                    for msg in batch:
                        try:
                            with s.begin_nested():  # one bad heartbeat spoils no other
                                update_health(s, msg, self.heartbeat_interval)
                                update_stats(s, msg)
                        except Exception:
                            LOG.exception("heartbeat of amphora %s not processed", msg.get("id"))
            except Exception:
                LOG.exception("a batch of %d heartbeats was not processed", len(batch))

    def amphora_died(self, amp_id: str) -> None:
        """The compute driver saw the amphora's agent exit: fail it over now rather than
        after heartbeat_timeout of silence. A fact, not a silence, so the circuit breaker
        does not apply; an amphora being retired or deleted is not ALLOCATED to an ACTIVE
        load balancer any more and is left alone."""
        try:
            with transaction() as s:
                rows = s.execute(
                    select(AmphoraHealth, Amphora)
                    .join(Amphora, Amphora.id == AmphoraHealth.amphora_id)
                    .where(Amphora.id == amp_id, AmphoraHealth.busy.is_(False),
                           Amphora.status == c.ALLOCATED)).all()
                lb_ids = self._start_failovers(s, rows, "its agent exited")
        except Exception:
            LOG.exception("death of amphora %s not acted upon; the stale check will", amp_id)
            return
        for lb_id in lb_ids:
            self.bus.notify(lb_id)

    def _check(self) -> None:
        # Give amphorae a full timeout to report after a (re)start: no failover storm.
        if self._stop.wait(self.heartbeat_timeout):
            return
        while not self._stop.wait(self.check_interval):
            if self.lag > self.heartbeat_interval:
                # Silence we have not had the time to hear is not the amphorae's fault.
                LOG.warning("health manager is %.1fs behind its heartbeats: no failover "
                            "decisions until it catches up", self.lag)
                metrics.inc("octolb_failover_checks_skipped_total",
                            "Stale-amphora checks skipped because heartbeats were backlogged.")
                continue
            try:
                for lb_id in self.fail_over_stale():
                    self.bus.notify(lb_id)
            except Exception:
                LOG.exception("stale amphora check failed")

    def fail_over_stale(self) -> list[str]:
        """Stale = not busy and silent for heartbeat_timeout; its LB must be ACTIVE/ERROR.
        Too many at once (`failover_threshold`) means the controller is the one cut off:
        they are marked FAILOVER_STOPPED and left alone until they report again."""
        expired = utcnow() - dt.timedelta(seconds=self.heartbeat_timeout)
        with transaction() as s:
            rows = s.execute(
                select(AmphoraHealth, Amphora)
                .join(Amphora, Amphora.id == AmphoraHealth.amphora_id)
                .where(AmphoraHealth.busy.is_(False), AmphoraHealth.last_update < expired,
                       Amphora.status == c.ALLOCATED)).all()
            if self.failover_threshold and len(rows) >= self.failover_threshold:
                for _health, amp in rows:
                    amp.status = c.FAILOVER_STOPPED
                metrics.inc("octolb_failover_circuit_breaks_total",
                            "Times the failover circuit breaker stopped a mass failover.")
                LOG.error("%d amphorae are silent at once (failover_threshold %d): not "
                          "failing them over, marked FAILOVER_STOPPED; check the "
                          "controller's network", len(rows), self.failover_threshold)
                return []
            return self._start_failovers(s, rows, "silent since {since}")

    @staticmethod
    def _start_failovers(s, rows, why: str) -> list[str]:
        """Mark each amphora's LB for failover when it is ACTIVE or ERROR (not busy)."""
        out = []
        for health, amp in rows:
            res = s.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == amp.load_balancer_id,
                       LoadBalancer.provisioning_status.in_((c.ACTIVE, c.ERROR)))
                .values(provisioning_status=c.PENDING_UPDATE, failover_requested=True)
                .execution_options(synchronize_session=False))
            if res.rowcount == 1:
                health.busy = True
                metrics.inc("octolb_failovers_total", "Amphora failovers by result.",
                            result="started")
                LOG.warning("amphora %s %s: failing over load balancer %s", amp.id,
                            why.format(since=health.last_update), amp.load_balancer_id)
                out.append(amp.load_balancer_id)
        return out

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

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb import metrics
from octolb.controller import stats
from octolb.controller.bus import Bus
from octolb.db.models import Amphora, AmphoraHealth, Listener, LoadBalancer, Member, Pool, utcnow
from octolb.db.session import is_retriable, retrying, transaction

LOG = logging.getLogger(__name__)
BATCH_SIZE = 500
BATCH_WINDOW = 0.25  # seconds: at most one batch (one write transaction) per window
MAX_BACKLOG = 20000
RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes asked for the UDP socket


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


class _Graph:
    """What a batch of heartbeats needs to know, read in a constant number of queries (the
    amphorae with their LB and health row; the LBs' listeners and any reported listener;
    their pools with members), as plain rows. The heartbeats change the statuses in these
    rows (`_Staged.apply`); `flush` writes only those that differ from what was read."""

    TABLES = {"lb": LoadBalancer, "listener": Listener, "pool": Pool, "member": Member}

    def __init__(self, s: Session, msgs: list[dict]):
        amp_ids = {m.get("id") for m in msgs if isinstance(m.get("id"), str)}
        self.amps: dict[str, dict] = {}
        self.lbs: dict[str, dict] = {}
        self.has_health: set[str] = set()
        if amp_ids:
            lb_t = LoadBalancer.__table__
            rows = s.execute(
                select(Amphora.id, Amphora.status, Amphora.load_balancer_id,
                       Amphora.applied_listeners, lb_t.c.provisioning_status,
                       lb_t.c.enabled, lb_t.c.operating_status,
                       AmphoraHealth.amphora_id.label("health"))
                .outerjoin(lb_t, lb_t.c.id == Amphora.load_balancer_id)
                .outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .where(Amphora.id.in_(sorted(amp_ids))))
            for r in rows:
                self.amps[r.id] = {"status": r.status, "lb": r.load_balancer_id,
                                   "applied_listeners": r.applied_listeners}
                if r.health is not None:
                    self.has_health.add(r.id)
                if r.load_balancer_id is not None and r.provisioning_status is not None:
                    self.lbs[r.load_balancer_id] = {
                        "provisioning_status": r.provisioning_status, "enabled": r.enabled,
                        "operating_status": r.operating_status}
        reported = {lid for m in msgs for lid in stats.reported(m)}
        self.listeners: dict[str, dict] = {}
        self.lb_listeners: dict[str, list[str]] = {lb: [] for lb in self.lbs}
        if self.lbs or reported:
            lis_t = Listener.__table__
            for r in s.execute(
                    select(lis_t.c.id, lis_t.c.load_balancer_id, lis_t.c.enabled,
                           lis_t.c.provisioning_status, lis_t.c.operating_status,
                           lis_t.c.created_at)
                    .where(or_(lis_t.c.load_balancer_id.in_(list(self.lbs)),
                               lis_t.c.id.in_(sorted(reported))))
                    .order_by(lis_t.c.created_at)):
                self.listeners[r.id] = dict(r._mapping)
                if r.load_balancer_id in self.lb_listeners:
                    self.lb_listeners[r.load_balancer_id].append(r.id)
        self.pools: dict[str, dict] = {}
        self.lb_pools: dict[str, list[str]] = {lb: [] for lb in self.lbs}
        self.members: dict[str, dict] = {}
        self.pool_members: dict[str, list[str]] = {}
        if self.lbs:
            pool_t, m_t = Pool.__table__, Member.__table__
            for r in s.execute(
                    select(pool_t.c.id, pool_t.c.load_balancer_id,
                           pool_t.c.operating_status, pool_t.c.enabled,
                           m_t.c.id.label("member_id"),
                           m_t.c.operating_status.label("member_status"),
                           m_t.c.enabled.label("member_enabled"))
                    .outerjoin(m_t, m_t.c.pool_id == pool_t.c.id)
                    .where(pool_t.c.load_balancer_id.in_(list(self.lbs)))
                    .order_by(pool_t.c.created_at, m_t.c.created_at)):
                if r.id not in self.pools:
                    self.pools[r.id] = {"operating_status": r.operating_status,
                                        "enabled": r.enabled}
                    self.lb_pools[r.load_balancer_id].append(r.id)
                    self.pool_members[r.id] = []
                if r.member_id is not None:
                    self.members[r.member_id] = {"operating_status": r.member_status,
                                                 "enabled": r.member_enabled}
                    self.pool_members[r.id].append(r.member_id)
        self._rows = {"lb": self.lbs, "listener": self.listeners, "pool": self.pools,
                      "member": self.members}
        self._read = {kind: {k: v["operating_status"] for k, v in rows.items()}
                      for kind, rows in self._rows.items()}
        self.touch: set[str] = set()
        self.unstop: set[str] = set()

    def status(self, kind: str, obj_id: str) -> str | None:
        return self._rows[kind][obj_id]["operating_status"]

    def flush(self, s: Session) -> None:
        """The batch's writes: health rows touched, amphorae back in service, operating
        statuses that changed. Nothing when nothing changed."""
        if self.touch:
            now = utcnow()
            old = sorted(self.touch & self.has_health)
            if old:
                s.execute(update(AmphoraHealth.__table__)
                          .where(AmphoraHealth.amphora_id.in_(old)).values(last_update=now))
            for amp_id in sorted(self.touch - self.has_health):
                AmphoraHealth.touch(s, amp_id)  # the first heartbeat of an amphora: rare
        if self.unstop:
            t = Amphora.__table__
            s.execute(update(t).where(t.c.id.in_(sorted(self.unstop)),
                                      t.c.status == c.FAILOVER_STOPPED)
                      .values(status=c.ALLOCATED))
        for kind, model in self.TABLES.items():
            read = self._read[kind]
            changed = [{"k_id": k, "k_status": row["operating_status"]}
                       for k, row in self._rows[kind].items()
                       if row["operating_status"] != read[k]]
            if changed:
                t = model.__table__
                s.execute(t.update().where(t.c.id == bindparam("k_id"))
                          .values(operating_status=bindparam("k_status")), changed)


class _Staged:
    """The changes of one heartbeat, applied to the graph only when all of it was understood
    (one malformed heartbeat spoils no other)."""

    def __init__(self, g: _Graph):
        self.g = g
        self.ops: dict[tuple[str, str], str] = {}
        self.touch: str | None = None
        self.unstop: str | None = None

    def set(self, kind: str, obj_id: str, status: str | None) -> None:
        current = self.ops.get((kind, obj_id), self.g.status(kind, obj_id))
        if status is not None and (current or "").upper() != status:
            self.ops[(kind, obj_id)] = status

    def status(self, kind: str, obj_id: str) -> str | None:
        return self.ops.get((kind, obj_id), self.g.status(kind, obj_id))

    def apply(self) -> None:
        for (kind, obj_id), status in self.ops.items():
            self.g._rows[kind][obj_id]["operating_status"] = status
        if self.touch:
            self.g.touch.add(self.touch)
        if self.unstop:
            self.g.unstop.add(self.unstop)
            self.g.amps[self.unstop]["status"] = c.ALLOCATED


def _health(g: _Graph, msg: dict, heartbeat_interval: float) -> _Staged | None:
    """What one heartbeat says about its amphora's LB (Octavia §6.2), staged on `g`."""
    amp = g.amps.get(msg.get("id"))
    if amp is None or amp["status"] == c.DELETED or amp["lb"] not in g.lbs:
        return None  # zombies are the housekeeping's business
    lb_id = amp["lb"]
    lb = g.lbs[lb_id]
    if lb["provisioning_status"] == c.DELETED:
        return None
    st = _Staged(g)
    listeners = msg.get("listeners") or {}
    lb_listeners = [g.listeners[lid] for lid in g.lb_listeners[lb_id]]
    # The listeners the amphora serves: those of the last configuration it accepted. A
    # listener in ERROR may be there or not (a failed create was never pushed; a failed
    # update pushed nothing, so the previous configuration with it still runs): the
    # statuses cannot tell. For an amphora configured before that was recorded, a range:
    # the enabled listeners not in ERROR, plus any of those in ERROR.
    expected = low = high = amp["applied_listeners"]
    if expected is None:
        low = sum(1 for lis in lb_listeners
                  if lis["enabled"] and lis["provisioning_status"] != c.ERROR)
        high = low + sum(1 for lis in lb_listeners if lis["provisioning_status"] == c.ERROR)
        expected = f"{low}" if low == high else f"{low} to {high}"
    pending = lb["provisioning_status"] in c.PENDING_STATUSES or not lb["enabled"]
    if pending or low <= len(listeners) <= high:
        if time.time() - msg.get("recv_time", time.time()) < heartbeat_interval:
            st.touch = msg["id"]
            if amp["status"] == c.FAILOVER_STOPPED:
                LOG.warning("amphora %s reports again: back in service", msg["id"])
                st.unstop = msg["id"]
    else:
        LOG.warning("amphora %s reports %d listeners, expected %s", msg["id"], len(listeners),
                    expected)

    lb_status = c.ONLINE if lb["enabled"] else c.OFFLINE
    for lis in lb_listeners:
        entry = listeners.get(lis["id"])
        if not lis["enabled"]:
            # a disabled listener is OFFLINE, whatever a heartbeat sent before the
            # configuration without it (processed in a later batch) still says
            st.set("listener", lis["id"], c.OFFLINE)
        elif entry is None:
            st.set("listener", lis["id"],
                   c.ERROR if lis["enabled"] and lb["provisioning_status"] == c.ACTIVE
                   else c.OFFLINE)
        elif entry.get("status") == "OPEN":
            st.set("listener", lis["id"], c.ONLINE)
        elif entry.get("status") == "FULL":
            st.set("listener", lis["id"], c.DEGRADED)
            if lb_status == c.ONLINE:
                lb_status = c.DEGRADED

    pools = {}
    for key, entry in (msg.get("pools") or {}).items():
        pools.setdefault(key.rsplit(":", 1)[0], entry)
    for pool_id in g.lb_pools[lb_id]:
        entry = pools.get(pool_id)
        if entry is None or not g.pools[pool_id]["enabled"]:
            # (disabled: OFFLINE whatever a heartbeat from before the change still says)
            st.set("pool", pool_id, c.OFFLINE)
            continue
        status = entry.get("status")
        pool_status = {"UP": c.ONLINE, "DOWN": c.ERROR}.get(status)
        if pool_status == c.ERROR:
            lb_status = c.ERROR
        members = entry.get("members") or {}
        for m_id in g.pool_members[pool_id]:
            reported = members.get(m_id)
            if not g.members[m_id]["enabled"]:
                st.set("member", m_id, c.OFFLINE)
                continue
            if reported is None:
                if st.status("member", m_id) != c.NO_MONITOR:
                    st.set("member", m_id, c.OFFLINE)
                continue
            new = _member_status(reported)
            if new is None and reported.upper() != "RESTARTING":
                LOG.debug("member %s: unknown status %r", m_id, reported)
            st.set("member", m_id, new)
            if new == c.ERROR and pool_status == c.ONLINE:
                pool_status = c.DEGRADED
                if lb_status == c.ONLINE:
                    lb_status = c.DEGRADED
        st.set("pool", pool_id, pool_status)
    st.set("lb", lb_id, lb_status)
    return st


def process_heartbeats(s: Session, msgs: list[dict], heartbeat_interval: float, *,
                       with_stats: bool = True) -> None:
    """A batch of heartbeats in order, in the session's transaction, in a constant number
    of statements whatever the size of the load balancers: a few reads, then writes only
    for what changed (health rows are refreshed by one UPDATE)."""
    msgs = [m for m in msgs if isinstance(m, dict)]  # a signed list is still not a heartbeat
    g = _Graph(s, msgs)
    stats_before = stats.load(s, msgs) if with_stats else {}
    stats_rows = {k: dict(v) for k, v in stats_before.items()}
    for msg in msgs:
        try:
            staged = _health(g, msg, heartbeat_interval)
            if with_stats:
                stats.add(stats_rows, msg, g.listeners)
        except Exception:
            LOG.exception("heartbeat of amphora %s not processed", msg.get("id"))
            continue
        if staged is not None:
            staged.apply()
    g.flush(s)
    if with_stats:
        stats.write(s, stats_rows, stats_before)


def update_health(s: Session, msg: dict, heartbeat_interval: float) -> None:
    """One heartbeat's health and statuses (no statistics: `stats.update_stats`)."""
    process_heartbeats(s, [msg], heartbeat_interval, with_stats=False)


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
        try:  # room for a few seconds of heartbeats while this process is busy elsewhere
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass  # the kernel's default (it caps the size at net.core.rmem_max anyway)
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
        (one per heartbeat does not keep up with hundreds of amphorae on SQLite), and at
        most one batch per `batch_window`, so that the write lock is free most of the time
        for the API and the worker (SQLite's busy handler polls: a writer that takes the
        lock again at once starves the others)."""
        window = min(BATCH_WINDOW, self.heartbeat_interval / 4)
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
            started = time.monotonic()
            self.process(batch)
            self._stop.wait(max(0.0, window - (time.monotonic() - started)))

    def process(self, batch: list[dict]) -> None:
        """One batch, retried on a lock conflict; never raises (the thread lives on)."""
        def run() -> None:
            with transaction() as s:
                process_heartbeats(s, batch, self.heartbeat_interval)

        try:
            retrying(run, what=f"a batch of {len(batch)} heartbeats")
            return
        except Exception as exc:
            if is_retriable(exc):
                LOG.error("a batch of %d heartbeats was not processed: database busy (%s)",
                          len(batch), getattr(exc, "orig", exc))
                return
            LOG.exception("a batch of %d heartbeats failed; processing them one by one",
                          len(batch))
        for msg in batch:  # one bad heartbeat spoils no other
            try:
                with transaction() as s:
                    process_heartbeats(s, [msg], self.heartbeat_interval)
            except Exception:
                LOG.exception("heartbeat of amphora %s not processed",
                              msg.get("id") if isinstance(msg, dict) else None)

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

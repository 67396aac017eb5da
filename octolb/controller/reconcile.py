"""reconcile(lb_id): converge the world to what the database says about one load balancer.

Every step is idempotent, so running it again after a crash anywhere finishes the job:
lease the LB → (delete everything | ensure the amphora, render the whole HAProxy
configuration, push it, reload) → mark the pending objects ACTIVE, purge PENDING_DELETE ones.
While the LB is PENDING_* the API refuses every change below it (409), so the graph read
at the start is the graph the end marks ACTIVE.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb import metrics
from octolb.amphora.client import AmphoraClient, AmphoraError, AmphoraUnreachable
from octolb.amphora.render import RenderError, render_haproxy_config
from octolb.compute.base import ComputeDriver, ComputeError
from octolb.config import CONF, heartbeat_destinations
from octolb.controller import tls_material
from octolb.db import flavors
from octolb.db.models import (
    Amphora,
    AmphoraHealth,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
    utcnow,
)
from octolb.db.session import retrying, transaction
from octolb.network import local as network
from octolb.network.base import network_driver

LOG = logging.getLogger(__name__)


@dataclass
class Drivers:
    compute: ComputeDriver
    client: AmphoraClient
    ca: object  # certs.local_ca.LocalCA
    heartbeat_key: str
    amphora_base: Path  # where the local driver keeps each amphora's files


def take_lease(lb_id: str, owner: str) -> bool:
    def take() -> bool:
        now = utcnow()
        with transaction() as s:
            res = s.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == lb_id,
                       or_(LoadBalancer.lease_owner.is_(None), LoadBalancer.lease_owner == owner,
                           LoadBalancer.lease_expires < now))
                .values(lease_owner=owner, lease_expires=now + dt.timedelta(
                    seconds=CONF.controller_worker.lease_seconds))
                .execution_options(synchronize_session=False))
            return res.rowcount == 1
    return retrying(take, what=f"lease of load balancer {lb_id}")


def release_lease(lb_id: str, owner: str) -> None:
    def release() -> None:
        with transaction() as s:
            s.execute(update(LoadBalancer)
                      .where(LoadBalancer.id == lb_id, LoadBalancer.lease_owner == owner)
                      .values(lease_owner=None, lease_expires=None)
                      .execution_options(synchronize_session=False))
    retrying(release, what=f"release of load balancer {lb_id}")


def release_dead_local_leases() -> None:
    """Leases of a worker on this host that died (kill -9) are free at once, not in a minute."""
    host = socket.gethostname()
    with transaction() as s:
        for lb in s.scalars(select(LoadBalancer).where(
                LoadBalancer.lease_owner.like(f"{host}:%"))):
            pid = int(lb.lease_owner.split(":")[1])  # host:pid:thread
            try:
                os.kill(pid, 0)
                alive = pid != os.getpid()  # our own pid: a previous life of it
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
            if not alive:
                lb.lease_owner = lb.lease_expires = None


def needs_work(lb: LoadBalancer) -> bool:
    return lb.provisioning_status in c.PENDING_STATUSES or lb.failover_requested


def reconcile(lb_id: str, drivers: Drivers, owner: str) -> bool | float:
    """Converge one LB. Returns True when done, False when another worker holds it (it will
    finish), or the seconds after which a failed failover is to be tried again."""
    if not take_lease(lb_id, owner):
        return False
    started = time.monotonic()
    try:
        return _reconcile(lb_id, drivers)
    finally:
        release_lease(lb_id, owner)
        metrics.observe("octolb_reconcile_duration_seconds",
                        "Time spent converging one load balancer.",
                        time.monotonic() - started)


def _reconcile(lb_id: str, drivers: Drivers) -> bool | float:
    """The work of reconcile(), under the lease."""
    with transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        if lb is None or lb.provisioning_status == c.DELETED:
            return True
        deleting = lb.provisioning_status == c.PENDING_DELETE
    if deleting:
        _delete_lb(lb_id, drivers)
        return True
    with transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        if lb.retry_not_before is not None and lb.retry_not_before > utcnow():
            return max(0.1, (lb.retry_not_before - utcnow()).total_seconds())
        if not needs_work(lb) and _amphorae_running(lb, drivers):
            return True
    replacement: list[AmpRef] = []  # a failover's new amphora, until it serves
    try:
        amp, retiring = _choose_amphora(lb_id, drivers)
        if retiring is not None:
            replacement = [amp]
        _start_amphora(amp, drivers)
        applied = _push_config(lb_id, amp.id, drivers)
        replacement = []
        _retire(retiring or [], drivers)
    except (AmphoraError, ComputeError, RenderError, network.NetworkError) as exc:
        LOG.error("reconcile of load balancer %s failed: %s", lb_id, exc)
        metrics.inc("octolb_reconcile_failures_total", "Reconciles that failed.")
        _discard(replacement, drivers)
        return _mark_failed(lb_id, str(exc), retryable=not isinstance(exc, RenderError))
    with transaction() as s:
        s.get(Amphora, amp.id).applied_listeners = applied
        _mark_done(s, s.get(LoadBalancer, lb_id))
    return True


# --- amphorae ---------------------------------------------------------------------------

def _amphorae_running(lb: LoadBalancer, drivers: Drivers) -> bool:
    amps = [a for a in lb.amphorae if a.status != c.DELETED]
    return bool(amps) and all(drivers.compute.is_running(a.id) for a in amps)


def _choose_amphora(lb_id: str, drivers: Drivers) -> tuple[AmpRef, list[AmpRef] | None]:
    """The amphora to configure: the LB's (a running one is adopted), or a new one or a
    spare. On a failover, the replacement is made first and the amphorae to retire are
    returned (None when this is no failover): they are removed only once the replacement
    serves (make before break; HAProxy binds with SO_REUSEPORT, so both serve the VIP for
    a moment)."""
    with transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        amps = [a for a in lb.amphorae if a.status != c.DELETED]
        retiring: list[AmpRef] | None = None
        if lb.failover_requested:
            # The flag stays until the replacement serves (_mark_done): a failover that
            # fails half-way removes the replacement it built (_discard) and starts over
            # on the next attempt.
            LOG.warning("load balancer %s: failing over amphorae %s (attempt %d)", lb.id,
                        [a.id for a in amps], lb.failover_attempts + 1)
            retiring = [AmpRef(a.id, a.lb_network_ip) for a in amps]
            amps = []
        if not amps:
            # An availability zone with its own management CIDR takes no spare: spares
            # have their addresses from the default one.
            zone_cidr = flavors.availability_zone_metadata(
                s, lb.availability_zone).get(flavors.MANAGEMENT_CIDR)
            amp = ((None if zone_cidr else _claim_spare(s, lb, drivers))
                   or new_amphora(s, lb.id, lb.vip_address, mgmt_cidr=zone_cidr))
        else:
            amp = amps[0]
        return AmpRef(amp.id, amp.lb_network_ip), retiring


def _start_amphora(ref: AmpRef, drivers: Drivers) -> None:
    """The amphora runs and answers on its agent API."""
    amp_id = ref.id
    boot_amphora(amp_id, ref.lb_network_ip, drivers)
    with transaction() as s:
        a = s.get(Amphora, amp_id)
        if a.status != c.ALLOCATED:
            a.status = c.ALLOCATED
        # An amphora that answers counts as alive now: if it never sends a heartbeat it
        # becomes stale and is replaced (Octavia would wait for a first heartbeat forever).
        # The no-op amphora driver's never will: they get no health row, so no failover.
        if getattr(drivers.client, "expects_heartbeats", True):
            AmphoraHealth.touch(s, amp_id, only_if_absent=True)


def _discard(built: list[AmpRef], drivers: Drivers) -> None:
    """A failed failover attempt removes the amphora it built (the next attempt builds a
    fresh one; one that gives up must leave only the amphorae it started from). Best
    effort: an amphora left here is retired by the next successful failover."""
    for ref in built:
        LOG.warning("amphora %s: replacement that did not come to serve, removed", ref.id)
        try:
            _retire([ref], drivers)
        except (AmphoraError, ComputeError) as exc:
            LOG.error("amphora %s: not removed (%s)", ref.id, exc)


def _retire(retiring: list[AmpRef], drivers: Drivers) -> None:
    """Remove replaced amphorae: gracefully (HAProxy finishes what is in flight) when the
    agent still answers, at once when it is broken."""
    for ref in retiring:
        graceful = drivers.compute.is_running(ref.id)
        if graceful:
            try:
                drivers.client.wait_ready(ref, attempts=1)
            except AmphoraError:
                graceful = False
        delete_amphora(ref.id, drivers, graceful=graceful)


def new_amphora(s: Session, lb_id: str | None, vip: str | None,
                mgmt_cidr: str | None = None) -> Amphora:
    """A BOOTING amphora row with its own management address (a spare when lb_id is None),
    from `mgmt_cidr` (an availability zone's) or `[compute_local] mgmt_cidr`."""
    amp = Amphora(load_balancer_id=lb_id, status=c.BOOTING,
                  role=c.ROLE_STANDALONE if lb_id else None,
                  compute_driver=CONF.controller_worker.compute_driver,
                  lb_network_ip=network.allocate_management_ip(
                      s, mgmt_cidr or CONF.compute_local.mgmt_cidr),
                  vrrp_ip=vip, ha_ip=vip)
    s.add(amp)
    s.flush()
    return amp


def _claim_spare(s: Session, lb: LoadBalancer, drivers: Drivers) -> Amphora | None:
    """Take a READY spare that runs (one conditional UPDATE: two workers never share one)."""
    spares = s.scalars(select(Amphora).where(Amphora.status == c.READY,
                                             Amphora.load_balancer_id.is_(None))).all()
    for spare in spares:
        if not drivers.compute.is_running(spare.id):
            continue  # housekeeping replaces it
        res = s.execute(update(Amphora)
                        .where(Amphora.id == spare.id, Amphora.status == c.READY,
                               Amphora.load_balancer_id.is_(None))
                        .values(load_balancer_id=lb.id, role=c.ROLE_STANDALONE,
                                vrrp_ip=lb.vip_address, ha_ip=lb.vip_address)
                        .execution_options(synchronize_session=False))
        if res.rowcount == 1:
            s.refresh(spare)
            LOG.info("load balancer %s takes spare amphora %s", lb.id, spare.id)
            return spare
    return None


def boot_amphora(amp_id: str, mgmt_ip: str, drivers: Drivers) -> None:
    """Start the amphora's agent unless it runs (then it is adopted), and wait until it
    answers. Idempotent."""
    if not drivers.compute.is_running(amp_id):
        pem, not_after = drivers.ca.issue_server_cert(amp_id,
                                                      CONF.certificates.cert_validity_time)
        hm = CONF.health_manager
        compute_id = drivers.compute.build(
            amp_id, mgmt_ip, server_pem=pem, ca_cert_path=drivers.ca.ca_cert_path,
            heartbeat_key=drivers.heartbeat_key, heartbeat_destinations=heartbeat_destinations(),
            heartbeat_interval=hm.heartbeat_interval, bind_port=CONF.haproxy_amphora.bind_port)
        with transaction() as s:
            a = s.get(Amphora, amp_id)
            a.compute_id, a.cert_expiration = compute_id, not_after
    _wait_for_agent(AmpRef(amp_id, mgmt_ip), drivers)


def push_agent_config(amp_id: str, drivers: Drivers) -> None:
    """`amphora configure`: give a running agent the controller's current settings (heartbeat
    key, destinations, interval); no status changes, as in Octavia."""
    with transaction() as s:
        amp = s.get(Amphora, amp_id)
        if amp is None or amp.status == c.DELETED or not amp.lb_network_ip:
            return
        ref = AmpRef(amp.id, amp.lb_network_ip)
    hm = CONF.health_manager
    text = drivers.compute.agent_config(
        ref.id, ref.lb_network_ip, heartbeat_key=drivers.heartbeat_key,
        heartbeat_destinations=heartbeat_destinations(), heartbeat_interval=hm.heartbeat_interval,
        bind_port=CONF.haproxy_amphora.bind_port)
    drivers.client.update_agent_config(ref, text)
    LOG.info("amphora %s: agent configuration pushed", amp_id)


def _wait_for_agent(ref: AmpRef, drivers: Drivers) -> None:
    """Until the agent answers; an agent process that died fails at once, not at the end
    of the retries."""
    hap = CONF.haproxy_amphora
    for attempt in range(max(1, hap.connection_max_retries)):
        if attempt:
            time.sleep(hap.connection_retry_interval)
        try:
            drivers.client.wait_ready(ref, attempts=1)
            return
        except AmphoraUnreachable:
            if not drivers.compute.is_running(ref.id):
                raise ComputeError(f"the agent of amphora {ref.id} exited at start") from None
    drivers.client.wait_ready(ref, attempts=1)  # raises the last connection error


@dataclass
class AmpRef:
    id: str
    lb_network_ip: str


def delete_amphora(amp_id: str, drivers: Drivers, graceful: bool = True) -> None:
    """Stop the amphora's processes (outside any transaction: it takes seconds), then mark
    it DELETED and free its management address."""
    drivers.compute.delete(amp_id, graceful=graceful)
    with transaction() as s:
        amp = s.get(Amphora, amp_id)
        if amp is not None:
            amp.status = c.DELETED
            amp.lb_network_ip = None  # the address is free for the next amphora
        s.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id == amp_id))


# --- configuration ----------------------------------------------------------------------

def _push_config(lb_id: str, amp_id: str, drivers: Drivers) -> int:
    """Render the LB's configuration and have the amphora load it. Returns the number of
    listeners (frontends) in it: what the amphora's heartbeats report from now on."""
    with transaction() as s:
        amp = s.get(Amphora, amp_id)
        ref = AmpRef(amp.id, amp.lb_network_ip)
    details = drivers.client.get_details(ref)  # no network I/O inside a transaction
    with transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        amp = s.get(Amphora, amp_id)
        has_frontends = lb.enabled and any(
            lis.enabled and lis.provisioning_status != c.PENDING_DELETE for lis in lb.listeners)
        tls_uploads: dict[str, bytes] = {}
        # The renderer's choice of frontends (render.model: enabled and live).
        frontends = sum(1 for lis in lb.listeners if lis.enabled and lis.provisioning_status
                        not in (c.PENDING_DELETE, c.DELETED)) if lb.enabled else 0
        if not has_frontends:
            text = None
        else:
            hap = CONF.haproxy_amphora
            flavor = flavors.flavor_metadata(s, lb.flavor_id)
            base_path = str(drivers.amphora_base / amp.id)
            tls_files, pool_tls_files, tls_uploads = tls_material.build(s, lb, base_path)
            text = render_haproxy_config(
                lb, amphora_id=amp.id, base_path=base_path, tls_files=tls_files,
                pool_tls_files=pool_tls_files,
                max_fds=details.get("rlimit_nofile"),
                connection_logging=hap.connection_logging,
                default_connection_limit=hap.default_connection_limit,
                max_connections=flavor.get(flavors.HAPROXY_MAXCONN),
                threads=flavor.get(flavors.HAPROXY_NBTHREAD, 1))
    if text is None:
        drivers.client.delete_lb(ref, lb_id)
        return 0
    for name, content in tls_uploads.items():  # before the configuration that names them
        drivers.client.upload_certificate(ref, lb_id, name, content)
    drivers.client.upload_config(ref, lb_id, text)
    drivers.client.reload(ref, lb_id)
    return frontends


# --- status bookkeeping ------------------------------------------------------------------

def _settle(obj, initial_operating: str | None = None) -> None:
    # ERROR too: the configuration just pushed includes the object, so it is served now
    # (an earlier failure is repaired by any later successful reconcile).
    if obj.provisioning_status in (c.PENDING_CREATE, c.PENDING_UPDATE, c.ERROR):
        obj.provisioning_status = c.ACTIVE
    if initial_operating is not None:
        obj.operating_status = initial_operating


def _mark_done(s: Session, lb: LoadBalancer) -> None:
    """Purge PENDING_DELETE children, mark the rest ACTIVE; set the statuses Octavia's worker
    sets (heartbeats refine LB/listener/pool/member ones from here)."""
    for lis in list(lb.listeners):
        if lis.provisioning_status == c.PENDING_DELETE:
            s.execute(delete(ListenerStatistics).where(ListenerStatistics.listener_id == lis.id))
            s.delete(lis)
    for pool in list(lb.pools):
        if pool.provisioning_status == c.PENDING_DELETE:
            for lis in lb.listeners:
                if lis.default_pool_id == pool.id:
                    lis.default_pool_id = None
            s.flush()
            s.delete(pool)
            continue
        hm = pool.health_monitor
        if hm is not None and hm.provisioning_status == c.PENDING_DELETE:
            pool.health_monitor = None
            s.delete(hm)
            for m in pool.members:
                m.operating_status = c.NO_MONITOR
            hm = None
        for m in list(pool.members):
            if m.provisioning_status == c.PENDING_DELETE:
                pool.members.remove(m)
                s.delete(m)
            elif not m.enabled:
                _settle(m, c.OFFLINE)
            elif hm is None or not hm.enabled:
                _settle(m, c.NO_MONITOR)
            else:
                _settle(m, m.operating_status if m.operating_status != c.NO_MONITOR
                        else c.OFFLINE)
        if hm is not None:
            _settle(hm, c.ONLINE if hm.enabled else c.OFFLINE)
        _settle(pool, pool.operating_status if pool.enabled and pool.operating_status != c.OFFLINE
                else (c.ONLINE if pool.enabled else c.OFFLINE))
    for lis in lb.listeners:
        if lis.provisioning_status != c.PENDING_DELETE:
            _settle_l7(s, lis)
            _settle(lis, lis.operating_status
                    if lis.enabled and lis.operating_status != c.OFFLINE
                    else (c.ONLINE if lis.enabled else c.OFFLINE))
    lb.last_error = None
    if lb.failover_requested:
        metrics.inc("octolb_failovers_total", "Amphora failovers by result.",
                    result="succeeded")
    lb.failover_requested = False
    lb.failover_attempts = 0
    lb.retry_not_before = None
    _settle(lb, (lb.operating_status if lb.operating_status != c.OFFLINE else c.ONLINE)
            if lb.enabled else c.OFFLINE)


def _settle_l7(s: Session, lis: Listener) -> None:
    """Purge the listener's PENDING_DELETE policies and rules (positions close up), mark the
    rest ACTIVE, operating ONLINE (OFFLINE when disabled), as Octavia's worker does."""
    with s.no_autoflush:
        kept = []
        for policy in sorted(lis.l7policies, key=lambda p: p.position):
            if policy.provisioning_status == c.PENDING_DELETE:
                for rule in policy.rules:
                    s.delete(rule)
                s.delete(policy)
                continue
            kept.append(policy)
            for rule in list(policy.rules):
                if rule.provisioning_status == c.PENDING_DELETE:
                    s.delete(rule)
                else:
                    _settle(rule, c.ONLINE if rule.enabled else c.OFFLINE)
            _settle(policy, c.ONLINE if policy.enabled else c.OFFLINE)
        for number, policy in enumerate(kept, start=1):
            if policy.position != number:
                policy.position = number


def _mark_failed(lb_id: str, why: str, retryable: bool = True) -> bool | float:
    """Octavia's revert: the objects being changed go ERROR, their parents back to ACTIVE;
    a failed LB create leaves the LB in ERROR. A failed failover, and a create whose amphora
    did not come up, are retried with back-off on a fresh amphora (returns the delay) before
    giving up with the LB in ERROR; `loadbalancer failover` starts again from there."""
    with transaction() as s:
        lb = s.get(LoadBalancer, lb_id)
        lb.last_error = why[:1024]
        broken = lb.provisioning_status == c.PENDING_CREATE
        if lb.failover_requested or (broken and retryable):
            lb.failover_requested = True  # the next attempt starts on a fresh amphora
            lb.failover_attempts += 1
            cw = CONF.controller_worker
            if lb.failover_attempts < cw.failover_max_attempts:
                delay = min(30.0, cw.failover_retry_backoff * 2 ** (lb.failover_attempts - 1))
                lb.retry_not_before = utcnow() + dt.timedelta(seconds=delay)
                LOG.warning("load balancer %s: failover attempt %d failed (%s); retrying in "
                            "%.1fs", lb.id, lb.failover_attempts, why, delay)
                metrics.inc("octolb_failovers_total", "Amphora failovers by result.",
                            result="retried")
                return delay
            LOG.error("load balancer %s: failover failed %d times, giving up: %s", lb.id,
                      lb.failover_attempts, why)
            metrics.inc("octolb_failovers_total", "Amphora failovers by result.",
                        result="abandoned")
            lb.failover_requested = False
            lb.failover_attempts = 0
            lb.retry_not_before = None
            broken = True  # nothing serves it any more
        children = list(lb.listeners) + list(lb.pools)
        for lis in lb.listeners:
            for policy in lis.l7policies:
                children += [policy, *policy.rules]
        for pool in lb.pools:
            children += list(pool.members)
            if pool.health_monitor is not None:
                children.append(pool.health_monitor)
        for obj in children:
            if obj.provisioning_status in c.PENDING_STATUSES:
                obj.provisioning_status = c.ERROR
        if broken:
            lb.provisioning_status = lb.operating_status = c.ERROR
        else:
            lb.provisioning_status = c.ACTIVE
    return True


def _delete_lb(lb_id: str, drivers: Drivers) -> None:
    with transaction() as s:
        amp_ids = [a.id for a in s.get(LoadBalancer, lb_id).amphorae if a.status != c.DELETED]
    for amp_id in amp_ids:
        delete_amphora(amp_id, drivers)
    with transaction() as s:
        _delete_lb_rows(s, s.get(LoadBalancer, lb_id))


def _delete_lb_rows(s: Session, lb: LoadBalancer) -> None:
    listener_ids = [lis.id for lis in lb.listeners]
    if listener_ids:
        s.execute(delete(ListenerStatistics)
                  .where(ListenerStatistics.listener_id.in_(listener_ids)))
    for lis in lb.listeners:
        lis.default_pool_id = None
    if listener_ids:
        policy_ids = select(L7Policy.id).where(L7Policy.listener_id.in_(listener_ids))
        s.execute(delete(L7Rule).where(L7Rule.l7policy_id.in_(policy_ids)))
        s.execute(delete(L7Policy).where(L7Policy.listener_id.in_(listener_ids)))
    s.flush()
    for pool in list(lb.pools):
        s.execute(delete(Member).where(Member.pool_id == pool.id))
        s.execute(delete(HealthMonitor).where(HealthMonitor.pool_id == pool.id))
    s.execute(delete(Listener).where(Listener.load_balancer_id == lb.id))
    s.execute(delete(Pool).where(Pool.load_balancer_id == lb.id))
    network_driver().release_vip(s, lb.id, lb.vip_port_id)
    lb.provisioning_status = c.DELETED
    lb.operating_status = c.OFFLINE


def pending_load_balancers() -> list[str]:
    """LBs with work to do now: PENDING_*, or a failover request, not backing off."""
    with transaction() as s:
        return list(s.scalars(select(LoadBalancer.id).where(
            or_(LoadBalancer.provisioning_status.in_(c.PENDING_STATUSES),
                LoadBalancer.failover_requested.is_(True)),
            or_(LoadBalancer.retry_not_before.is_(None),
                LoadBalancer.retry_not_before <= utcnow()))))


def dead_amphora_load_balancers(drivers: Drivers) -> list[str]:
    """ACTIVE LBs whose amphora is not running here (e.g. after `octolb down`)."""
    with transaction() as s:
        rows = s.execute(select(Amphora.id, Amphora.load_balancer_id).join(LoadBalancer)
                         .where(Amphora.status == c.ALLOCATED,
                                LoadBalancer.provisioning_status.in_((c.ACTIVE, c.ERROR)))).all()
    return sorted({lb for amp, lb in rows if not drivers.compute.is_running(amp)})


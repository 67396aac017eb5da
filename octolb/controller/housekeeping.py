"""Periodic housekeeping: the spare pool, amphora certificate rotation, and the purge of rows
deleted long ago. Each job has its own interval; one failing job never stops the others."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, select, update

from octolb import constants as c
from octolb import metrics
from octolb.amphora.client import AmphoraError
from octolb.compute.base import ComputeError
from octolb.config import CONF
from octolb.controller import reconcile
from octolb.db.models import Amphora, AmphoraHealth, LoadBalancer, utcnow
from octolb.db.session import transaction

LOG = logging.getLogger(__name__)


def purge_deleted(lb_expiry_age: int, amphora_expiry_age: int) -> int:
    """Rows DELETED for longer than their expiry age go away; returns how many LBs."""
    cutoff = utcnow() - dt.timedelta(seconds=lb_expiry_age)
    amp_cutoff = utcnow() - dt.timedelta(seconds=amphora_expiry_age)
    with transaction() as s:
        amps = list(s.scalars(select(Amphora.id).where(
            Amphora.status == c.DELETED, Amphora.updated_at < amp_cutoff)))
        if amps:
            s.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id.in_(amps)))
            s.execute(delete(Amphora).where(Amphora.id.in_(amps)))
        lbs = list(s.scalars(select(LoadBalancer.id).where(
            LoadBalancer.provisioning_status == c.DELETED, LoadBalancer.updated_at < cutoff)))
        if lbs:
            s.execute(delete(Amphora).where(Amphora.load_balancer_id.in_(lbs)))
            s.execute(delete(LoadBalancer).where(LoadBalancer.id.in_(lbs)))
    return len(lbs)


def fill_spare_pool(drivers: reconcile.Drivers, size: int) -> int:
    """Keep `size` READY amphorae with no load balancer, so a create or a failover skips the
    boot. Spares that died, or that a crash left BOOTING, are removed. Returns how many
    were built."""
    with transaction() as s:
        unusable = [(a.id, a.status) for a in s.scalars(select(Amphora).where(
            Amphora.load_balancer_id.is_(None),
            Amphora.status.in_((c.READY, c.BOOTING)))).all()
            if a.status == c.BOOTING or not drivers.compute.is_running(a.id)]
    for amp_id, status in unusable:
        LOG.warning("spare amphora %s is not usable (%s): removing it", amp_id, status)
        reconcile.delete_amphora(amp_id, drivers, graceful=False)
    with transaction() as s:
        ready = len(s.scalars(select(Amphora.id).where(
            Amphora.load_balancer_id.is_(None), Amphora.status == c.READY)).all())
    built = 0
    for _ in range(max(0, size - ready)):
        with transaction() as s:
            amp = reconcile.new_amphora(s, None, None)
            amp_id, mgmt_ip = amp.id, amp.lb_network_ip
        try:
            reconcile.boot_amphora(amp_id, mgmt_ip, drivers)
        except (AmphoraError, ComputeError) as exc:
            LOG.error("spare amphora %s did not start: %s", amp_id, exc)
            reconcile.delete_amphora(amp_id, drivers, graceful=False)
            break
        with transaction() as s:  # READY unless a worker claimed it meanwhile
            s.execute(update(Amphora).where(Amphora.id == amp_id, Amphora.status == c.BOOTING,
                                            Amphora.load_balancer_id.is_(None))
                      .values(status=c.READY).execution_options(synchronize_session=False))
        built += 1
    return built


def rotate_certificates(drivers: reconcile.Drivers, expiry_buffer: int) -> int:
    """Give every amphora whose certificate expires within `expiry_buffer` seconds a new
    one; the agent swaps it without a restart. Returns how many were rotated."""
    soon = utcnow() + dt.timedelta(seconds=expiry_buffer)
    with transaction() as s:
        due = [(a.id, a.lb_network_ip) for a in s.scalars(select(Amphora).where(
            Amphora.status.in_((c.ALLOCATED, c.READY)), Amphora.cert_busy.is_(False),
            Amphora.cert_expiration < soon)).all()]
    rotated = 0
    for amp_id, mgmt_ip in due:
        with transaction() as s:
            res = s.execute(update(Amphora).where(Amphora.id == amp_id,
                                                  Amphora.cert_busy.is_(False))
                            .values(cert_busy=True).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                continue
        expiration = None
        try:
            pem, not_after = drivers.ca.issue_server_cert(
                amp_id, CONF.certificates.cert_validity_time)
            drivers.client.update_server_cert(reconcile.AmpRef(amp_id, mgmt_ip), pem)
            expiration = not_after
            rotated += 1
            metrics.inc("octolb_certificate_rotations_total",
                        "Amphora server certificates replaced before expiry.")
        except AmphoraError as exc:
            LOG.error("certificate rotation of amphora %s failed: %s", amp_id, exc)
        finally:
            with transaction() as s:
                values = {"cert_busy": False}
                if expiration is not None:
                    values["cert_expiration"] = expiration
                s.execute(update(Amphora).where(Amphora.id == amp_id).values(**values)
                          .execution_options(synchronize_session=False))
    return rotated


class Housekeeping:
    def __init__(self, drivers: reconcile.Drivers):
        hk = CONF.house_keeping
        self.jobs: list[tuple[str, float, Callable[[], object]]] = [
            ("purge", hk.cleanup_interval,
             lambda: purge_deleted(hk.load_balancer_expiry_age, hk.amphora_expiry_age)),
            ("certificates", hk.cert_interval,
             lambda: rotate_certificates(drivers, hk.cert_expiry_buffer)),
        ]
        if hk.spare_amphora_pool_size > 0:
            self.jobs.append(("spares", hk.spare_check_interval,
                              lambda: fill_spare_pool(drivers, hk.spare_amphora_pool_size)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        due = {name: 0.0 for name, _i, _f in self.jobs}
        while not self._stop.wait(0.2):
            for name, interval, job in self.jobs:
                if time.monotonic() < due[name]:
                    continue
                try:
                    job()
                except Exception:
                    LOG.exception("housekeeping job %s failed", name)
                due[name] = time.monotonic() + interval

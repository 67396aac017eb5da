"""Periodic housekeeping: purge load balancer and amphora rows deleted long ago."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import delete, select

from octolb import constants as c
from octolb.db.models import Amphora, AmphoraHealth, LoadBalancer, utcnow
from octolb.db.session import transaction

LOG = logging.getLogger(__name__)


def purge_deleted(expiry_age: int) -> int:
    """Rows in DELETED for longer than `expiry_age` seconds go away; returns how many LBs."""
    cutoff = utcnow() - dt.timedelta(seconds=expiry_age)
    with transaction() as s:
        amps = list(s.scalars(select(Amphora.id).where(
            Amphora.status == c.DELETED, Amphora.updated_at < cutoff)))
        if amps:
            s.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id.in_(amps)))
            s.execute(delete(Amphora).where(Amphora.id.in_(amps)))
        lbs = list(s.scalars(select(LoadBalancer.id).where(
            LoadBalancer.provisioning_status == c.DELETED, LoadBalancer.updated_at < cutoff)))
        if lbs:
            s.execute(delete(Amphora).where(Amphora.load_balancer_id.in_(lbs)))
            s.execute(delete(LoadBalancer).where(LoadBalancer.id.in_(lbs)))
    return len(lbs)


class Housekeeping:
    def __init__(self, interval: float, expiry_age: int):
        self.interval = interval
        self.expiry_age = expiry_age
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                n = purge_deleted(self.expiry_age)
                if n:
                    LOG.info("purged %d deleted load balancers", n)
            except Exception:
                LOG.exception("housekeeping failed")

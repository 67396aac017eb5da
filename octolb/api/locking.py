"""The 409 rules (§7.3): a change below a load balancer needs the LB ACTIVE and marks it
PENDING_UPDATE in one conditional UPDATE, so two API processes cannot both take it."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api.errors import Immutable, InvalidState
from octolb.db.models import Listener, LoadBalancer, Pool, pool_listeners


def take_lb(session: Session, lb: LoadBalancer, *, to: str = c.PENDING_UPDATE,
            allowed: tuple[str, ...] = (c.ACTIVE,), invalid_state_msg: bool = False) -> None:
    res = session.execute(
        update(LoadBalancer)
        .where(LoadBalancer.id == lb.id, LoadBalancer.provisioning_status.in_(allowed))
        .values(provisioning_status=to)
        .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        session.rollback()
        session.refresh(lb)
        if invalid_state_msg:
            raise InvalidState(lb.provisioning_status, lb.id)
        raise Immutable("Load Balancer", lb.id)
    session.refresh(lb)


def mark_pending_update(*objs) -> None:
    """Parents of a change (listeners, pools) show PENDING_UPDATE until the worker is done."""
    for o in objs:
        if o is not None and o.provisioning_status not in c.PENDING_STATUSES + (c.DELETED,):
            o.provisioning_status = c.PENDING_UPDATE


def require_pool_active(pool: Pool) -> None:
    if pool.provisioning_status != c.ACTIVE:
        raise Immutable("Pool", pool.id)


def listeners_of_pool(pool: Pool) -> list[Listener]:
    return [lis for lis in pool_listeners(pool) if lis.provisioning_status != c.DELETED]

"""Quota enforcement (Octavia §9.8.3), safe when several API processes create at once.

Usage is counted from the resource rows themselves, in the transaction that inserts the new
ones, while that transaction holds the project's quota row:

* SQLite: every transaction is `BEGIN IMMEDIATE` (db/session.py), so writers are serialised
  already; the row is made in the same transaction when absent.
* PostgreSQL / MariaDB: `SELECT … FOR UPDATE` on the project's quota row serialises the
  creates of one project until the caller commits. A missing row is first inserted in a
  short transaction of its own (a duplicate from a concurrent first create is ignored), so
  no gap or insert-intention lock is held across the request. The count itself is a locking
  read on MariaDB: under REPEATABLE READ a plain read would use the snapshot taken at the
  request's first read, before the create that held the lock committed.

Callers (create routes): `check_and_reserve(session, project_id, "listener")` after their
validations and before the insert and commit; a 403 is raised when the quota is met. The
"reservation" is the lock: it lasts until the caller's commit or rollback.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api.errors import Forbidden
from octolb.config import CONF
from octolb.db import models
from octolb.db.models import Quota

# resource → (Quota column, [quotas] option, word in Octavia's 403 text, model class name)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "load_balancer": ("default_load_balancer_quota", "Load Balancer", "LoadBalancer"),
    "listener": ("default_listener_quota", "Listener", "Listener"),
    "pool": ("default_pool_quota", "Pool", "Pool"),
    "health_monitor": ("default_health_monitor_quota", "Health Monitor", "HealthMonitor"),
    "member": ("default_member_quota", "Member", "Member"),
    "l7policy": ("default_l7policy_quota", "L7 Policy", "L7Policy"),
    "l7rule": ("default_l7rule_quota", "L7 Rule", "L7Rule"),
}
UNLIMITED = -1


class QuotaMet(Forbidden):
    def __init__(self, resource: str):
        super().__init__(f"Quota has been met for resources: {RESOURCES[resource][1]}")


def default_limit(resource: str) -> int:
    return getattr(CONF.quotas, RESOURCES[resource][0])


def effective(quota: Quota | None, resource: str) -> int:
    """The limit in force: the project's own, or the configured default when it is NULL."""
    own = getattr(quota, resource) if quota is not None else None
    return default_limit(resource) if own is None else own


def in_use(session: Session, project_id: str, resource: str, *, locking: bool = False) -> int:
    """Live objects of `resource` the project has (DELETED ones do not count; PENDING_DELETE
    ones do until the worker has removed them, as in Octavia)."""
    model = getattr(models, RESOURCES[resource][2])
    stmt = (select(func.count()).select_from(model)
            .where(model.project_id == project_id, model.provisioning_status != c.DELETED))
    if locking:
        stmt = stmt.with_for_update(read=True)
    return session.scalar(stmt) or 0


def lock_quota_row(session: Session, project_id: str) -> Quota:
    """The project's quota row, made if absent, locked until the session's transaction ends
    (on SQLite the transaction holds the database's write lock already)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        row = session.get(Quota, project_id)
        if row is None:
            row = Quota(project_id=project_id)
            session.add(row)
            session.flush()
        return row
    if session.scalar(select(Quota.project_id).where(Quota.project_id == project_id)) is None:
        try:
            with session.get_bind().begin() as conn:
                conn.execute(insert(Quota).values(project_id=project_id))
        except IntegrityError:
            pass  # a concurrent first create made it
    return session.scalars(select(Quota).where(Quota.project_id == project_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def check_and_reserve(session: Session, project_id: str, resource: str, count: int = 1) -> None:
    """Refuse (403) a create of `count` objects of `resource` that would exceed the project's
    quota. Call it inside the transaction that inserts them, before the commit."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown quota resource {resource!r}")
    row = lock_quota_row(session, project_id)
    if count <= 0:
        return
    limit = effective(row, resource)
    if limit == UNLIMITED:
        return
    locking = session.get_bind().dialect.name in ("mysql", "mariadb")
    if in_use(session, project_id, resource, locking=locking) + count > limit:
        session.rollback()  # nothing was written yet; the lock is released at once
        raise QuotaMet(resource)

"""Statistics aggregation for the API (Octavia §7.3): counters summed over every amphora that
ever served a listener; current connections only from amphorae still in service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from octolb.db.models import Amphora, ListenerStatistics

FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def for_listeners(session: Session, listener_ids: list[str]) -> dict[str, int]:
    totals = dict.fromkeys(FIELDS, 0)
    if not listener_ids:
        return totals
    rows = session.execute(
        select(ListenerStatistics, Amphora.status)
        .outerjoin(Amphora, Amphora.id == ListenerStatistics.amphora_id)
        .where(ListenerStatistics.listener_id.in_(listener_ids))).all()
    for st, amp_status in rows:
        totals["bytes_in"] += st.bytes_in
        totals["bytes_out"] += st.bytes_out
        totals["total_connections"] += st.total_connections
        totals["request_errors"] += st.request_errors
        if amp_status == "ALLOCATED" or st.amphora_id == st.listener_id:
            totals["active_connections"] += st.active_connections
    return totals

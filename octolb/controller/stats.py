"""Heartbeat statistics → listener_statistics (Octavia §7.2): version 3 carries deltas, which
are added; active connections are replaced; older versions carry absolute values."""

from __future__ import annotations

from sqlalchemy.orm import Session

from octolb.db.models import Listener, ListenerStatistics

_MAP = {"bytes_in": "rx", "bytes_out": "tx", "total_connections": "totconns",
        "request_errors": "ereq"}


def update_stats(s: Session, msg: dict) -> None:
    amp_id = msg.get("id") or ""
    deltas = int(msg.get("ver", 2)) >= 3
    for listener_id, entry in (msg.get("listeners") or {}).items():
        stats = entry.get("stats") or {}
        if s.get(Listener, listener_id) is None:
            continue  # a listener deleted meanwhile
        row = s.get(ListenerStatistics, (listener_id, amp_id or listener_id))
        if row is None:
            row = ListenerStatistics(listener_id=listener_id, amphora_id=amp_id or listener_id,
                                     bytes_in=0, bytes_out=0, active_connections=0,
                                     total_connections=0, request_errors=0)
            s.add(row)
        for col, key in _MAP.items():
            value = max(0, int(stats.get(key, 0)))
            setattr(row, col, (getattr(row, col) or 0) + value if deltas else value)
        row.active_connections = max(0, int(stats.get("conns", 0)))

"""Heartbeat statistics → listener_statistics (Octavia §7.2): version 3 carries deltas, which
are added; active connections are replaced; older versions carry absolute values.

For a batch of heartbeats: `load` reads the rows of the batch's amphorae in one query, `add`
applies one heartbeat to them in memory, `write` stores what changed (one UPDATE and one
INSERT at most, each for many rows)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb.db.models import Listener, ListenerStatistics

_MAP = {"bytes_in": "rx", "bytes_out": "tx", "total_connections": "totconns",
        "request_errors": "ereq"}
COLUMNS = (*_MAP, "active_connections")
Key = tuple[str, str]  # (listener id, amphora id)
_MAX = 2 ** 63 - 1


def _amphora_key(msg: dict, listener_id: str) -> str:
    return msg.get("id") or listener_id


def reported(msg: dict) -> dict[str, dict]:
    listeners = msg.get("listeners") or {}
    return listeners if isinstance(listeners, dict) else {}


def load(s: Session, msgs: list[dict]) -> dict[Key, dict[str, int]]:
    """The statistics rows the batch may change, by (listener id, amphora id)."""
    keys = {(lid, _amphora_key(m, lid)) for m in msgs for lid in reported(m)}
    if not keys:
        return {}
    t = ListenerStatistics.__table__
    rows = s.execute(select(t).where(t.c.amphora_id.in_({a for _, a in keys}))).mappings()
    return {(r["listener_id"], r["amphora_id"]): {c: r[c] or 0 for c in COLUMNS}
            for r in rows if (r["listener_id"], r["amphora_id"]) in keys}


def add(rows: dict[Key, dict[str, int]], msg: dict, listeners: set[str] | dict) -> None:
    """Apply one heartbeat to `rows` (in memory). `listeners`: the ids that exist (a
    listener deleted meanwhile gets no row). All or nothing: a malformed heartbeat raises
    before anything changes."""
    deltas = int(msg.get("ver", 2)) >= 3
    staged: dict[Key, dict[str, int]] = {}
    for listener_id, entry in reported(msg).items():
        stats = entry.get("stats") or {}
        if listener_id not in listeners:
            continue  # a listener deleted meanwhile
        key = (listener_id, _amphora_key(msg, listener_id))
        row = dict(staged.get(key) or rows.get(key) or dict.fromkeys(COLUMNS, 0))
        for col, name in _MAP.items():
            value = max(0, int(stats.get(name, 0)))
            row[col] = row[col] + value if deltas else value
        row["active_connections"] = max(0, int(stats.get("conns", 0)))
        if any(v > _MAX for v in row.values()):
            raise ValueError(f"statistics of listener {listener_id} out of range")
        staged[key] = row
    rows.update(staged)


def write(s: Session, rows: dict[Key, dict[str, int]], before: dict[Key, dict[str, int]]) -> None:
    """Store the rows that changed since `before` (what `load` returned)."""
    t = ListenerStatistics.__table__
    changed = [{"k_listener": k[0], "k_amphora": k[1], **v} for k, v in rows.items()
               if k in before and before[k] != v]
    new = [{"listener_id": k[0], "amphora_id": k[1], **v} for k, v in rows.items()
           if k not in before]
    if changed:
        s.execute(t.update()
                  .where(t.c.listener_id == bindparam("k_listener"),
                         t.c.amphora_id == bindparam("k_amphora")), changed)
    if new:
        try:
            with s.begin_nested():
                s.execute(t.insert(), new)
        except IntegrityError:
            # another health manager process inserted some of them meanwhile: row by row
            for row in new:
                with s.begin_nested():
                    if s.execute(select(t.c.listener_id).where(
                            t.c.listener_id == row["listener_id"],
                            t.c.amphora_id == row["amphora_id"])).first() is None:
                        s.execute(t.insert(), [row])
                    else:
                        s.execute(t.update().where(
                            t.c.listener_id == row["listener_id"],
                            t.c.amphora_id == row["amphora_id"]).values(
                            {c: row[c] for c in COLUMNS}))


def update_stats(s: Session, msg: dict) -> None:
    """One heartbeat's statistics (the health manager does a whole batch at once)."""
    ids = list(reported(msg))
    existing = set(s.scalars(select(Listener.id).where(Listener.id.in_(ids)))) if ids else set()
    before = load(s, [msg])
    rows = {k: dict(v) for k, v in before.items()}
    add(rows, msg, existing)
    write(s, rows, before)

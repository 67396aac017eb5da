"""Heartbeats: signed, compressed UDP status messages (format version 3) to the controllers.

Listener stats ``rx``, ``tx``, ``totconns`` and ``ereq`` are deltas since the previous
heartbeat (a counter that went backwards, e.g. after an HAProxy restart, counts from
zero); ``conns`` is instantaneous. The last absolute counters are persisted in
``<base_path>/stats_counters.json`` so an agent restart does not double-count.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable

from . import stats
from .haproxy import HAProxyManager

LOG = logging.getLogger(__name__)

MESSAGE_VERSION = 3
COUNTERS_FILE = "stats_counters.json"
# heartbeat stat -> HAProxy `show stat` column; all but `conns` are sent as deltas.
DELTA_FIELDS = {"rx": "bin", "tx": "bout", "totconns": "stot", "ereq": "ereq"}

StatReader = Callable[[str], list[dict[str, str]]]
Counters = dict[str, dict[str, dict[str, int]]]  # lb_id -> listener_id -> column -> value


def sign(message: dict, key: str) -> bytes:
    """zlib(level 9) of the JSON, followed by the 64 hex chars of its HMAC-SHA256."""
    payload = zlib.compress(json.dumps(message).encode(), 9)
    digest = hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()
    return payload + digest.encode("ascii")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def lb_status(rows: list[dict[str, str]]) -> tuple[dict, dict, dict[str, dict[str, int]]]:
    """Listeners, pools and absolute listener counters of one LB from its ``show stat`` rows."""
    listeners: dict[str, dict] = {}
    pools: dict[str, dict] = {}
    counters: dict[str, dict[str, int]] = {}
    for row in rows:
        pxname, svname = row.get("pxname", ""), row.get("svname", "")
        if "prometheus" in pxname:
            continue  # internal exporter proxies are not tenant traffic
        if svname == "FRONTEND":
            counters[pxname] = {col: _int(row.get(col)) for col in DELTA_FIELDS.values()}
            listeners[pxname] = {
                "status": row.get("status", ""),
                "stats": {"conns": _int(row.get("scur"))},
            }
        elif svname == "BACKEND":
            pool = pools.setdefault(pxname, {"status": "DOWN", "members": {}})
            pool["status"] = "UP" if row.get("status") == "UP" else "DOWN"
        else:
            status = row.get("status", "")
            if status == "UP" and row.get("weight") == "0":
                status = "DRAIN"
            pool = pools.setdefault(pxname, {"status": "DOWN", "members": {}})
            pool["members"][svname] = status
    return listeners, pools, counters


def apply_deltas(listeners: dict, current: dict[str, dict[str, int]],
                 previous: dict[str, dict[str, int]]) -> None:
    for listener_id, entry in listeners.items():
        now = current.get(listener_id, {})
        before = previous.get(listener_id, {})
        for field, column in DELTA_FIELDS.items():
            delta = now.get(column, 0) - before.get(column, 0)
            entry["stats"][field] = delta if delta >= 0 else now.get(column, 0)


def parse_destination(entry: str) -> tuple[str, int]:
    """``ip:port`` or ``[ipv6]:port``."""
    host, sep, port = entry.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"heartbeat destination {entry!r} is not ip:port")
    return host.strip("[]"), int(port)


class HeartbeatSender:
    def __init__(
        self,
        amphora_id: str,
        key: str,
        destinations: list[str],
        interval: float,
        haproxy: HAProxyManager,
        read_stats: StatReader | None = None,
    ) -> None:
        self.amphora_id = amphora_id
        self._key = key
        self.interval = interval
        self.haproxy = haproxy
        self._read_stats = read_stats or self._show_stat
        self._destinations = [parse_destination(d) for d in destinations]
        self._next = 0
        self._seq = 0
        self._counters_path = haproxy.base_path / COUNTERS_FILE
        self._counters: Counters = self._load_counters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: dict[int, socket.socket] = {}

    def reconfigure(self, key: str, destinations: list[str], interval: float) -> None:
        """Take a new key, destination list and interval (agent config update)."""
        parsed = [parse_destination(d) for d in destinations]
        self._key, self._destinations, self.interval = key, parsed, interval
        self._next = 0

    def _show_stat(self, lb_id: str) -> list[dict[str, str]]:
        return stats.show_stat(self.haproxy.stats_socket(lb_id))

    # --- message ---------------------------------------------------------------------

    def build_message(self) -> dict:
        listeners: dict = {}
        pools: dict = {}
        counters: Counters = {}
        for lb_id in self.haproxy.load_balancers():
            if not self.haproxy.is_running(lb_id):
                continue
            rows = self._query(lb_id)
            if rows is None:
                # No answer: the LB contributes nothing this time; keep its counters.
                if lb_id in self._counters:
                    counters[lb_id] = self._counters[lb_id]
                continue
            lb_listeners, lb_pools, lb_counters = lb_status(rows)
            apply_deltas(lb_listeners, lb_counters, self._counters.get(lb_id, {}))
            listeners.update(lb_listeners)
            pools.update(lb_pools)
            counters[lb_id] = lb_counters
        message = {
            "id": self.amphora_id, "seq": self._seq, "ver": MESSAGE_VERSION,
            "listeners": listeners, "pools": pools,
        }
        self._seq += 1
        self._counters = counters
        self._save_counters()
        return message

    def _query(self, lb_id: str) -> list[dict[str, str]] | None:
        for attempt in range(2):  # the socket may be briefly busy during a reload
            try:
                return self._read_stats(lb_id)
            except (OSError, ValueError) as exc:
                if attempt:
                    LOG.warning("stats of %s unavailable: %s", lb_id, exc)
                else:
                    time.sleep(0.1)
        return None

    def _load_counters(self) -> Counters:
        try:
            data = json.loads(self._counters_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_counters(self) -> None:
        tmp = self._counters_path.with_name(COUNTERS_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(self._counters))
            os.replace(tmp, self._counters_path)
        except OSError as exc:
            LOG.warning("cannot persist stats counters: %s", exc)

    # --- sending ---------------------------------------------------------------------

    def send_once(self) -> None:
        """Build, sign and send one heartbeat to the next destination (round robin)."""
        if not self._destinations:
            return
        datagram = sign(self.build_message(), self._key)
        host, port = self._destinations[self._next % len(self._destinations)]
        self._next += 1
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
        sock.sendto(datagram, (host, port))

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_once()
            except Exception:  # a failed heartbeat must never end the loop
                LOG.exception("heartbeat skipped")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self._sockets.values():
            sock.close()

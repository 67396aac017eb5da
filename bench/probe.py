"""A client that keeps asking one URL and remembers, for each answer, when it came and what
it said: used to see when a new member first serves and how long an outage lasts."""

from __future__ import annotations

import bisect
import http.client
import threading
import time


class Probe:
    def __init__(self, host: str, port: int, interval: float = 0.001, timeout: float = 1.0,
                 keep_alive: bool = True) -> None:
        self.host, self.port = host, port
        self.interval, self.timeout, self.keep_alive = interval, timeout, keep_alive
        self.events: list[tuple[float, str | None]] = []  # (monotonic time, body or None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="probe")
        self._lock = threading.Lock()
        self.retries = 0  # keep-alive connections found closed and retried at once

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        conn = None
        while not self._stop.is_set():
            body: str | None = None
            sent = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                conn.request("GET", "/", headers={} if self.keep_alive
                             else {"Connection": "close"})
                resp = conn.getresponse()
                text = resp.read().decode(errors="replace").strip()
                body = text if resp.status == 200 else None
                if not self.keep_alive or resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                if self.keep_alive:
                    # a keep-alive connection closed by a reload is not a failed request:
                    # retry once at once on a fresh connection, as clients do
                    self.retries += 1
                    try:
                        c2 = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
                        c2.request("GET", "/")
                        r2 = c2.getresponse()
                        t2 = r2.read().decode(errors="replace").strip()
                        body = t2 if r2.status == 200 else None
                        conn = c2
                    except (OSError, http.client.HTTPException):
                        body = None
            with self._lock:
                self.events.append((sent, body))
            wait = self.interval - (time.monotonic() - sent)
            if wait > 0:
                self._stop.wait(wait)
        if conn is not None:
            conn.close()

    def snapshot(self) -> list[tuple[float, str | None]]:
        with self._lock:
            return list(self.events)

    def first(self, body: str, after: float) -> float | None:
        with self._lock:
            i = bisect.bisect_left(self.events, (after,)) if self.events else 0
            for t, b in self.events[i:]:
                if b == body:
                    return t
        return None

    def failures(self, after: float = 0.0) -> int:
        return sum(1 for t, b in self.snapshot() if t >= after and b is None)

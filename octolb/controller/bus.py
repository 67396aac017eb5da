"""How the API pokes the worker. The message carries only a load balancer id: the desired
state is in the database, so a lost or repeated message costs nothing but latency (the
worker also sweeps for pending work on start and periodically)."""

from __future__ import annotations

import queue
import threading
from typing import Protocol


class Bus(Protocol):
    def notify(self, lb_id: str) -> None: ...

    def configure_amphora(self, amphora_id: str) -> None: ...

    def delete_amphora(self, amphora_id: str) -> None: ...


class InProcessBus:
    """The bus of `octolb up`: a queue consumed by the worker threads of the same process."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | tuple[str, str] | None] = queue.Queue()
        self._pending: set[str | tuple[str, str]] = set()
        self._lock = threading.Lock()

    def notify(self, lb_id: str) -> None:
        self._put(lb_id)

    def configure_amphora(self, amphora_id: str) -> None:
        """Push the current agent configuration to one amphora (`amphora configure`)."""
        self._put(("configure", amphora_id))

    def delete_amphora(self, amphora_id: str) -> None:
        """Remove an amphora the API marked PENDING_DELETE (`amphora delete`)."""
        self._put(("delete", amphora_id))

    def _put(self, item: str | tuple[str, str]) -> None:
        with self._lock:
            if item in self._pending:
                return  # already queued: one reconcile will see every change
            self._pending.add(item)
        self._queue.put(item)

    def receive(self, timeout: float | None = None) -> str | tuple[str, str] | None:
        try:
            lb_id = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if lb_id is not None:
            with self._lock:
                self._pending.discard(lb_id)
        return lb_id

    def close(self, consumers: int = 1) -> None:
        for _ in range(consumers):
            self._queue.put(None)


class NullBus:
    """For an API process that must not reconcile (tests of the API alone)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, lb_id: str) -> None:
        self.sent.append(lb_id)

    def configure_amphora(self, amphora_id: str) -> None:
        self.sent.append(f"configure:{amphora_id}")

    def delete_amphora(self, amphora_id: str) -> None:
        self.sent.append(f"delete:{amphora_id}")

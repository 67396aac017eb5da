"""Compute drivers: where amphorae run. The controller sees only this interface."""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path


class ComputeError(Exception):
    """An amphora could not be built or removed."""


class ComputeDriver(abc.ABC):
    """Creates, inspects and removes amphorae. Every method is idempotent."""

    @abc.abstractmethod
    def build(
        self,
        amphora_id: str,
        mgmt_ip: str,
        *,
        server_pem: bytes,
        ca_cert_path: Path,
        heartbeat_key: str,
        heartbeat_destinations: list[str],
        heartbeat_interval: int,
        bind_port: int = 9443,
    ) -> str:
        """Start an amphora whose agent listens on ``mgmt_ip:bind_port``; return its compute id.

        ``server_pem`` is the agent's certificate and key; ``ca_cert_path`` the CA that
        signed the controller's client certificate. Building an amphora that already
        runs returns its compute id and changes nothing.
        """

    @abc.abstractmethod
    def is_running(self, amphora_id: str) -> bool:
        """True when the amphora's agent process exists."""

    @abc.abstractmethod
    def delete(self, amphora_id: str, graceful: bool = True) -> None:
        """Stop the amphora and everything it runs, and remove its files; absent is fine.
        `graceful=False` for a broken amphora being replaced: no waiting for it."""

    def delete_many(self, amphora_ids: list[str]) -> None:
        """`delete` of each (graceful); a driver that can stop them side by side does."""
        for amphora_id in amphora_ids:
            self.delete(amphora_id)

    def agent_config(self, amphora_id: str, mgmt_ip: str, *, heartbeat_key: str,
                     heartbeat_destinations: list[str], heartbeat_interval: int,
                     bind_port: int = 9443) -> bytes:
        """The agent configuration this driver would give the amphora today."""
        raise NotImplementedError

    @abc.abstractmethod
    def list(self) -> list[str]:
        """Ids of the amphorae this driver holds (running or not)."""

    def watch_deaths(self, on_death: Callable[[str], None]) -> Callable[[], None] | None:
        """Call ``on_death(amphora_id)`` as soon as an amphora's agent exits, when the driver
        can tell (a hypervisor's lifecycle event; a local process's exit). Returns a function
        that stops watching, or None when the driver cannot watch: heartbeats still tell."""
        return None


class NoopComputeDriver(ComputeDriver):
    """Remembers amphorae without running anything: for tests of the controller logic."""

    def __init__(self) -> None:
        self._amphorae: dict[str, str] = {}

    def build(
        self,
        amphora_id: str,
        mgmt_ip: str,
        *,
        server_pem: bytes,
        ca_cert_path: Path,
        heartbeat_key: str,
        heartbeat_destinations: list[str],
        heartbeat_interval: int,
        bind_port: int = 9443,
    ) -> str:
        return self._amphorae.setdefault(amphora_id, f"noop-{amphora_id}")

    def is_running(self, amphora_id: str) -> bool:
        return amphora_id in self._amphorae

    def delete(self, amphora_id: str, graceful: bool = True) -> None:
        self._amphorae.pop(amphora_id, None)

    def list(self) -> list[str]:
        return sorted(self._amphorae)

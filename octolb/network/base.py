"""The network driver interface: what the API and the worker ask of the network (a VIP for a
load balancer, its release, whether a member's subnet exists). `local` is the built-in
network service (network/local.py); `noop` (network/noop.py) looks nothing up."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from sqlalchemy.orm import Session

from octolb.config import CONF


@dataclass(frozen=True)
class Vip:
    address: str
    port_id: str
    subnet_id: str
    network_id: str


class NetworkDriver(abc.ABC):
    @abc.abstractmethod
    def allocate_vip(self, session: Session, lb_id: str, *, project_id: str,
                     port_id: str | None, network_id: str | None, subnet_id: str | None,
                     address: str | None) -> Vip:
        """The VIP of a new load balancer (Octavia's precedence: port > network > subnet).
        Raises network.local.NetworkError with the status the API should answer."""

    @abc.abstractmethod
    def release_vip(self, session: Session, lb_id: str, port_id: str | None) -> None:
        """The load balancer is gone: free what allocate_vip took."""

    @abc.abstractmethod
    def subnet_exists(self, session: Session, subnet_id: str) -> bool:
        """For a member's subnet_id."""


def network_driver() -> NetworkDriver:
    """The driver `[controller_worker] network_driver` names."""
    if CONF.controller_worker.network_driver == "noop":
        from octolb.network.noop import NoopNetworkDriver

        return NoopNetworkDriver()
    from octolb.network.local import LocalNetworkDriver

    return LocalNetworkDriver()

"""The no-op network driver (Octavia's network_noop_driver): any network, subnet or port id
is taken as given without a lookup, missing ids are made up, and the VIP address is the one
requested or one made up from 198.51.100.0/24 (TEST-NET-2: never routed, never served).
For API-level test suites that must not depend on a network service."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from octolb.network.base import NetworkDriver, Vip


class NoopNetworkDriver(NetworkDriver):
    def allocate_vip(self, session: Session, lb_id: str, *, project_id: str,
                     port_id: str | None, network_id: str | None, subnet_id: str | None,
                     address: str | None) -> Vip:
        made_up = f"198.51.100.{uuid.UUID(lb_id).int % 254 + 1}"
        return Vip(address=address or made_up, port_id=port_id or str(uuid.uuid4()),
                   subnet_id=subnet_id or str(uuid.uuid4()),
                   network_id=network_id or str(uuid.uuid4()))

    def release_vip(self, session: Session, lb_id: str, port_id: str | None) -> None:
        return None

    def subnet_exists(self, session: Session, subnet_id: str) -> bool:
        return True

"""The built-in network service: networks, subnets and ports in octolb's own database, with
IPAM by unique (subnet, address) rows. Addresses come from loopback ranges, so a VIP is
reachable on this machine with no routing at all."""

from __future__ import annotations

import ipaddress
import json
import random

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octolb.config import CONF
from octolb.db.flavors import MANAGEMENT_CIDR
from octolb.db.models import Amphora, AvailabilityZoneProfile, IPAllocation, Network, Port, Subnet
from octolb.network.base import NetworkDriver, Vip


class NetworkError(Exception):
    """A request the network cannot satisfy; `status` says how the API should answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def seed(session: Session, network_name: str, subnet_name: str, cidr: str) -> None:
    """Create the network `private` with `private-subnet` once (first start). It belongs to
    no project and is shared: every project puts its VIPs on it (the quick-start's
    `--vip-subnet-id private-subnet`); only an admin may delete it. Its CIDR is the
    operator's (`[networking] seed_subnet_cidr`), taken as configured."""
    if session.scalar(select(Network).where(Network.name == network_name)) is not None:
        return
    net = Network(name=network_name, shared=True)
    session.add(net)
    session.flush()
    create_subnet(session, net, subnet_name, cidr, check=False)


LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
HOST_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/16")  # 127.0.0.1, 127.0.0.53, 127.0.1.1


def _reserved(session: Session) -> list[tuple[ipaddress.IPv4Network, str]]:
    """Loopback ranges a subnet must stay out of, each with what it is for."""
    found = [(HOST_LOOPBACK, "the host's own loopback services"),
             (CONF.compute_local.mgmt_cidr, "the amphora management range "
                                            "([compute_local] mgmt_cidr)"),
             (CONF.api_settings.bind_host, "the API's address"),
             (CONF.health_manager.bind_ip, "the health manager's address")]
    for data in session.scalars(select(AvailabilityZoneProfile.availability_zone_data)):
        try:
            zone_cidr = json.loads(data).get(MANAGEMENT_CIDR)
        except (ValueError, AttributeError):
            continue
        if zone_cidr:
            found.append((zone_cidr, "an availability zone's management range"))
    out = []
    for net, what in found:
        try:
            out.append((ipaddress.IPv4Network(net, strict=False), what))
        except ValueError:
            continue  # not an IPv4 address or range (a hostname, "::"): nothing to keep out
    return out


def check_cidr(session: Session, network: ipaddress.IPv4Network | ipaddress.IPv6Network,
               ) -> None:
    """A tenant subnet's CIDR: VIPs are bound on this host's loopback, so the range must lie
    inside 127.0.0.0/8, keep out of the host's and octolb's own addresses, and overlap no
    other subnet of any project (so a VIP address is unique on the host: two load balancers
    on one address would share its traffic, as HAProxy binds with SO_REUSEPORT)."""
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(LOOPBACK):
        raise NetworkError(f"Invalid input for cidr. Reason: '{network}' is not inside "
                           f"127.0.0.0/8 (VIPs are bound on this host's loopback).")
    for reserved, what in _reserved(session):
        if network.overlaps(reserved):
            raise NetworkError(f"Invalid input for cidr. Reason: '{network}' overlaps "
                               f"{reserved}, {what}.")
    for sub_id, cidr in session.execute(select(Subnet.id, Subnet.cidr)):
        other = ipaddress.ip_network(cidr)
        if other.version == network.version and network.overlaps(other):
            raise NetworkError(f"Invalid input for cidr. Reason: '{network}' overlaps "
                               f"{other} of subnet {sub_id}; subnets of this network service "
                               "share one host and may not overlap.")


def create_subnet(session: Session, net: Network, name: str | None, cidr: str,
                  gateway_ip: str | None = "", *, check: bool = True) -> Subnet:
    """`check`: refuse a CIDR `check_cidr` refuses (every subnet but the operator's seed)."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise NetworkError(
            f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.") from None
    if check:
        check_cidr(session, network)
    if gateway_ip == "":
        gateway_ip = str(next(network.hosts())) if network.num_addresses > 2 else None
    sub = Subnet(network_id=net.id, name=name, cidr=str(network), ip_version=network.version,
                 gateway_ip=gateway_ip, project_id=net.project_id)
    session.add(sub)
    session.flush()
    return sub


def allocation_range(sub: Subnet) -> tuple[str, str]:
    net = ipaddress.ip_network(sub.cidr)
    hosts = net.hosts()
    first = next(hosts)
    last = net.broadcast_address - 1 if net.num_addresses > 2 else net.broadcast_address
    if sub.gateway_ip and str(first) == sub.gateway_ip:
        first = first + 1
    return str(first), str(last)


def _free_address(session: Session, sub: Subnet) -> str:
    used = set(session.scalars(
        select(IPAllocation.ip_address).where(IPAllocation.subnet_id == sub.id)))
    first, last = allocation_range(sub)
    addr, end = ipaddress.ip_address(first), ipaddress.ip_address(last)
    while addr <= end:
        if str(addr) not in used and str(addr) != sub.gateway_ip:
            return str(addr)
        addr += 1
    raise NetworkError(f"No more IP addresses available on subnet {sub.id}.", status=409)


def create_port(session: Session, sub: Subnet, *, ip_address: str | None = None,
                name: str | None = None, device_id: str | None = None,
                device_owner: str | None = None, project_id: str | None = None) -> Port:
    """A port with one fixed IP on `sub`; a requested address must be in the subnet and free."""
    if ip_address is not None:
        if ipaddress.ip_address(ip_address) not in ipaddress.ip_network(sub.cidr):
            raise NetworkError(f"IP address {ip_address} is not a valid IP for the "
                               f"specified subnet.")
        taken = session.get(IPAllocation, (sub.id, ip_address))
        if taken is not None or ip_address == sub.gateway_ip:
            raise NetworkError(
                f"The VIP IP address is already in use: IP address {ip_address} already "
                f"allocated in subnet {sub.id}", status=409)
    requested = ip_address
    for _attempt in range(5):
        address = requested or _free_address(session, sub)
        port = Port(network_id=sub.network_id, name=name, device_id=device_id,
                    device_owner=device_owner, mac_address=random_mac(), project_id=project_id)
        port.fixed_ips.append(IPAllocation(subnet_id=sub.id, ip_address=address))
        try:
            with session.begin_nested():  # another process may take the same address
                session.add(port)
                session.flush()
            return port
        except IntegrityError:
            if requested:
                break
    raise NetworkError(f"The VIP IP address is already in use: could not allocate "
                       f"{requested or 'an address'} in subnet {sub.id}", status=409)


def vip_port_name(lb_id: str) -> str:
    return f"octavia-lb-{lb_id}"


def release_vip_port(session: Session, lb_id: str, port_id: str | None) -> None:
    """A VIP port octolb made goes away with the LB; a port the tenant brought is only
    handed back (as Octavia does with a `--vip-port-id` port)."""
    port = session.get(Port, port_id) if port_id else None
    if port is None:
        return
    if port.name == vip_port_name(lb_id):
        session.delete(port)
    else:
        port.device_id = port.device_owner = None


def usable_network(net: Network | None, project_id: str | None) -> bool:
    """May a load balancer of `project_id` have its VIP on `net`: its own or shared."""
    return net is not None and (net.shared or net.project_id == project_id)


def resolve_vip(session: Session, *, project_id: str | None, port_id: str | None,
                network_id: str | None, subnet_id: str | None,
                address: str | None) -> tuple[Subnet, Port | None]:
    """Octavia's precedence: port > network > subnet. Returns the subnet and, when the
    client named an existing port, that port (otherwise the caller allocates one).

    Ids are looked up as the load balancer's project would see them in Neutron: a port of
    another project, or a network (or a subnet of one) neither its own nor shared, is
    "not found" (Octavia's 400 `<Resource> <id> not found.`)."""
    if port_id:
        port = session.get(Port, port_id)
        if port is None or port.project_id != project_id:
            raise NetworkError(f"Port {port_id} not found.")
        if port.device_id:
            raise NetworkError(f"Port {port_id} is already used by device {port.device_id} ")
        fixed = port.fixed_ips
        if subnet_id:
            match = [f for f in fixed if f.subnet_id == subnet_id]
            if not match:
                raise NetworkError("No VIP address found on the specified VIP port within the "
                                   "specified subnet.")
        elif address:
            match = [f for f in fixed if f.ip_address == address]
            if not match:
                raise NetworkError("Specified VIP address not found on the specified VIP port.")
        elif len(fixed) != 1:
            raise NetworkError("VIP port's subnet could not be determined. Please specify "
                               "either a VIP subnet or address.")
        else:
            match = fixed
        return session.get(Subnet, match[0].subnet_id), port
    if network_id:
        net = session.get(Network, network_id)
        if not usable_network(net, project_id):
            raise NetworkError(f"Network {network_id} not found.")
        if subnet_id:
            sub = session.get(Subnet, subnet_id)
            if sub is None or sub.network_id != net.id:
                raise NetworkError(f"Subnet {subnet_id} not found.")
            return sub, None
        if not net.subnets:
            raise NetworkError("Supplied network does not contain a subnet.")
        if address:
            for sub in net.subnets:
                if ipaddress.ip_address(address) in ipaddress.ip_network(sub.cidr):
                    return sub, None
            raise NetworkError("Supplied network does not contain a subnet for VIP address "
                               "specified.")
        return sorted(net.subnets, key=lambda s: s.ip_version)[0], None
    sub = session.get(Subnet, subnet_id)
    if sub is None or not usable_network(sub.network, project_id):
        raise NetworkError(f"Subnet {subnet_id} not found.")
    return sub, None


def allocate_management_ip(session: Session, cidr: str) -> str:
    """A free address for an amphora's agent; unique by the amphora.lb_network_ip key."""
    net = ipaddress.ip_network(cidr)
    used = set(session.scalars(select(Amphora.lb_network_ip)))
    for addr in net.hosts():
        s = str(addr)
        if addr == next(net.hosts()):
            continue  # keep .1 like a gateway; controllers may use it
        if s not in used:
            return s
    raise NetworkError(f"No management addresses left in {cidr}", status=503)


class LocalNetworkDriver(NetworkDriver):
    """The built-in network service behind the driver interface (network/base.py)."""

    def allocate_vip(self, session: Session, lb_id: str, *, project_id: str,
                     port_id: str | None, network_id: str | None, subnet_id: str | None,
                     address: str | None) -> Vip:
        subnet, port = resolve_vip(session, project_id=project_id, port_id=port_id,
                                   network_id=network_id, subnet_id=subnet_id,
                                   address=address)
        if port is None:
            port = create_port(session, subnet, ip_address=address, name=vip_port_name(lb_id),
                               device_id=f"lb-{lb_id}", device_owner="Octavia",
                               project_id=project_id)
        else:
            port.device_id, port.device_owner = f"lb-{lb_id}", "Octavia"
        ip = next(f.ip_address for f in port.fixed_ips if f.subnet_id == subnet.id)
        return Vip(address=ip, port_id=port.id, subnet_id=subnet.id,
                   network_id=subnet.network_id)

    def release_vip(self, session: Session, lb_id: str, port_id: str | None) -> None:
        release_vip_port(session, lb_id, port_id)

    def subnet_exists(self, session: Session, subnet_id: str) -> bool:
        return session.get(Subnet, subnet_id) is not None

"""SQLAlchemy models: the desired state (what tenants asked for) and the observed state
(amphorae, health, statistics), plus the records of the built-in network service."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Naive UTC, second precision: what Octavia renders and what MySQL DATETIME stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class _Owned:
    """Columns every tenant-visible object has."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class LoadBalancer(_Owned, Base):
    __tablename__ = "load_balancer"

    description: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64), default="amphora")
    topology: Mapped[str] = mapped_column(String(16), default="SINGLE")
    vip_address: Mapped[str | None] = mapped_column(String(64))
    vip_port_id: Mapped[str | None] = mapped_column(String(36))
    vip_subnet_id: Mapped[str | None] = mapped_column(String(36))
    vip_network_id: Mapped[str | None] = mapped_column(String(36))
    vip_qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    flavor_id: Mapped[str | None] = mapped_column(String(36))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    # reconcile bookkeeping: which worker holds the LB, until when
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    failover_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    failover_attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_not_before: Mapped[dt.datetime | None] = mapped_column(DateTime)

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", order_by="Listener.created_at",
        cascade="all, delete-orphan")
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer", order_by="Pool.created_at",
        cascade="all, delete-orphan")
    amphorae: Mapped[list[Amphora]] = relationship(back_populates="load_balancer")


class Listener(_Owned, Base):
    __tablename__ = "listener"
    __table_args__ = (UniqueConstraint("load_balancer_id", "protocol_port", "l4_family"),)

    description: Mapped[str | None] = mapped_column(String(255))
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    l4_family: Mapped[str] = mapped_column(String(8))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", use_alter=True, name="fk_listener_default_pool"))
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    insert_headers: Mapped[dict] = mapped_column(JSON, default=dict)
    allowed_cidrs: Mapped[list | None] = mapped_column(JSON)
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list] = mapped_column(JSON, default=list)
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_authentication: Mapped[str] = mapped_column(String(10), default="NONE")
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(foreign_keys=[default_pool_id])


class Pool(_Owned, Base):
    __tablename__ = "pool"

    description: Mapped[str | None] = mapped_column(String(255))
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    members: Mapped[list[Member]] = relationship(
        back_populates="pool", order_by="Member.created_at", cascade="all, delete-orphan")
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", cascade="all, delete-orphan", uselist=False)
    listeners: Mapped[list[Listener]] = relationship(
        primaryjoin="Listener.default_pool_id == Pool.id", viewonly=True)


class Member(_Owned, Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "ip_address", "protocol_port"),)

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    vnic_type: Mapped[str] = mapped_column(String(16), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members")


class HealthMonitor(_Owned, Base):
    __tablename__ = "health_monitor"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), unique=True)
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    rise_threshold: Mapped[int] = mapped_column(Integer)  # API: max_retries
    fall_threshold: Mapped[int] = mapped_column(Integer, default=3)  # API: max_retries_down
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")


class Amphora(Base):
    __tablename__ = "amphora"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    load_balancer_id: Mapped[str | None] = mapped_column(
        ForeignKey("load_balancer.id"), index=True)
    compute_id: Mapped[str | None] = mapped_column(String(64))
    compute_driver: Mapped[str] = mapped_column(String(16), default="local")
    lb_network_ip: Mapped[str | None] = mapped_column(String(64), unique=True)
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    config_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")


class AmphoraHealth(Base):
    __tablename__ = "amphora_health"

    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[dt.datetime] = mapped_column(DateTime)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)

    @staticmethod
    def touch(session, amphora_id: str, only_if_absent: bool = False) -> None:
        """Record that the amphora is alive now. The health manager and the worker may do
        it at the same moment: an insert that loses the race becomes an update."""
        row = session.get(AmphoraHealth, amphora_id)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(AmphoraHealth(amphora_id=amphora_id, last_update=utcnow(),
                                              busy=False))
                return
            except IntegrityError:
                row = session.get(AmphoraHealth, amphora_id)
                if row is None:
                    raise
        if not only_if_absent:
            row.last_update = utcnow()


class ListenerStatistics(Base):
    __tablename__ = "listener_statistics"

    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


# --- the built-in network service (Neutron's read side, enough for the stock clients) ---

class Network(Base):
    __tablename__ = "network"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    project_id: Mapped[str | None] = mapped_column(String(36))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=True)
    mtu: Mapped[int] = mapped_column(Integer, default=65536)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", order_by="Subnet.created_at")


class Subnet(Base):
    __tablename__ = "subnet"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    project_id: Mapped[str | None] = mapped_column(String(36))
    cidr: Mapped[str] = mapped_column(String(64))
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(Base):
    __tablename__ = "port"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    project_id: Mapped[str | None] = mapped_column(String(36))
    device_id: Mapped[str | None] = mapped_column(String(255))
    device_owner: Mapped[str | None] = mapped_column(String(255))
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan")


class IPAllocation(Base):
    """One address taken from a subnet. The unique key is the IPAM: two ports never share one."""

    __tablename__ = "ip_allocation"

    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnet.id"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("port.id"), index=True)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")

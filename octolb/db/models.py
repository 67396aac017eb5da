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
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, backref, mapped_column, relationship


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
    # Listeners (HAProxy frontends) in the last configuration the amphora accepted, written
    # by the worker when a push succeeds: what its heartbeats must report. A failed update
    # changes nothing on the amphora, so the statuses cannot tell. None: not known yet.
    applied_listeners: Mapped[int | None] = mapped_column(Integer)
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


# --- L7 policies and rules ---------------------------------------------------------------

class L7Policy(_Owned, Base):
    """What a listener does with a request its rules match, in `position` order (1..N)."""

    __tablename__ = "l7policy"

    description: Mapped[str | None] = mapped_column(String(255))
    listener_id: Mapped[str] = mapped_column(ForeignKey("listener.id"), index=True)
    action: Mapped[str] = mapped_column(String(36))
    redirect_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id"), index=True)
    redirect_url: Mapped[str | None] = mapped_column(String(255))
    redirect_prefix: Mapped[str | None] = mapped_column(String(255))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(backref=backref(
        "l7policies", order_by="L7Policy.position", cascade="all, delete-orphan"))
    redirect_pool: Mapped[Pool | None] = relationship(backref=backref(
        "l7policies", order_by="L7Policy.position"))
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy", order_by="[L7Rule.created_at, L7Rule.id]",
        cascade="all, delete-orphan")  # the list endpoint's default order


class L7Rule(_Owned, Base):
    """One condition of a policy; the enabled rules of a policy are ANDed."""

    __tablename__ = "l7rule"

    l7policy_id: Mapped[str] = mapped_column(ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")


# --- flavors and availability zones (admin-defined; a load balancer names one of each) ---

class FlavorProfile(Base):
    """Provider-specific metadata (a JSON object kept as the string the admin sent)."""

    __tablename__ = "flavor_profile"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(Base):
    __tablename__ = "flavor"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ForeignKey("flavor_profile.id"), index=True)

    flavor_profile: Mapped[FlavorProfile] = relationship()


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))


class AvailabilityZone(Base):
    """Identified by its name, as in Octavia (no id column)."""

    __tablename__ = "availability_zone"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ForeignKey("availability_zone_profile.id"), index=True)

    availability_zone_profile: Mapped[AvailabilityZoneProfile] = relationship()


class Quota(Base):
    """A project's limits; NULL means the `[quotas]` default, -1 unlimited. Usage is counted
    from the resource rows, not kept here. The row is also the lock that serialises the
    creates of one project (api/quota.py), so it is made on a project's first create."""

    __tablename__ = "quotas"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)

    @property
    def id(self) -> str:  # list pagination markers are ids
        return self.project_id


class Secret(Base):
    """A secret of the built-in key manager (Barbican's v1 API shape): the payload is stored
    encrypted with the state directory's key, never in clear."""

    __tablename__ = "secret"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    creator_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    secret_type: Mapped[str] = mapped_column(String(32), default="opaque")
    algorithm: Mapped[str | None] = mapped_column(String(255))
    bit_length: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(255))
    expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    content_type: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class SecretContainer(Base):
    """A container of the built-in key manager: named references to secrets (a
    `certificate` container holds certificate, private_key, intermediates, passphrase)."""

    __tablename__ = "secret_container"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    creator_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="generic")
    secret_refs: Mapped[dict] = mapped_column(JSON, default=dict)  # name -> secret id
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class KeyManagerConsumer(Base):
    """A consumer registered through the key manager's API (Barbican's secret consumers,
    `service`/`resource_type`/`resource_id`, and container consumers, `name`/`URL` kept as
    `service`/`resource_id`). The load balancers' own uses of secrets and containers are not
    stored here: they are read from the listeners and pools that hold the references
    (octolb/certs/consumers.py), so they cannot drift from them."""

    __tablename__ = "key_manager_consumer"
    __table_args__ = (UniqueConstraint("ref_kind", "ref_id", "identity",
                                       name="uq_key_manager_consumer_identity"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    ref_kind: Mapped[str] = mapped_column(String(16))  # "secret" | "container"
    ref_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str | None] = mapped_column(String(36))
    service: Mapped[str] = mapped_column(String(255))  # a container consumer's name
    resource_type: Mapped[str | None] = mapped_column(String(255))  # None: container
    resource_id: Mapped[str] = mapped_column(String(255))  # a container consumer's URL
    identity: Mapped[str] = mapped_column(String(64))  # sha256 of the fields above
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


def l7_redirect_pools(listener: Listener) -> list[Pool]:
    """Pools a listener sends to through its enabled L7 policies that have a rule, in
    position order, each once (what Octavia counts as the listener using the pool)."""
    pools: list[Pool] = []
    for policy in sorted(listener.l7policies, key=lambda p: p.position):
        pool = policy.redirect_pool
        if (policy.enabled and policy.rules and pool is not None and pool not in pools
                and policy.provisioning_status != "DELETED"):
            pools.append(pool)
    return pools


def pool_listeners(pool: Pool) -> list[Listener]:
    """Octavia's Pool.listeners: the listeners having the pool as default pool plus those
    with an enabled L7 policy (with at least one rule) redirecting to it, each once."""
    out = list(pool.listeners)
    for policy in pool.l7policies:
        if (policy.enabled and policy.rules and policy.listener not in out
                and policy.provisioning_status != "DELETED"):
            out.append(policy.listener)
    return out

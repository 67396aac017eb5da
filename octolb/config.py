"""oslo.config options. Section and option names follow octavia.conf where the concept is shared."""

from __future__ import annotations

import os
from pathlib import Path

from oslo_config import cfg

CONF = cfg.ConfigOpts()


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                             "state")
    return os.path.join(base, "octolb")


_default_opts = [
    cfg.StrOpt("state_dir", default=default_state_dir(),
               help="Directory holding the SQLite database, CA, amphora files and clouds.yaml."),
    cfg.StrOpt("transport_url", default=None, secret=True,
               help="oslo.messaging transport for split mode (e.g. rabbit://...). "
                    "Unset: the in-process bus of `octolb up`."),
    cfg.BoolOpt("debug", default=False),
]

_api_opts = [
    cfg.StrOpt("bind_host", default="127.0.0.1"),
    cfg.PortOpt("bind_port", default=9876),
    cfg.StrOpt("auth_strategy", default="noauth", choices=["noauth", "keystone"],
               help="noauth: every request is admin; the project comes from X-Project-Id "
                    "or noauth_project_id."),
    cfg.StrOpt("noauth_project_id", default="octolb",
               help="Project owning objects created without keystone and without X-Project-Id."),
    cfg.IntOpt("pagination_max_limit", default=1000),
    cfg.StrOpt("api_base_uri", default=None),
    cfg.StrOpt("default_provider_driver", default="amphora"),
    cfg.ListOpt("enabled_provider_drivers", default=["amphora", "octavia"]),
    cfg.BoolOpt("allow_ping_health_monitors", default=True),
    cfg.IntOpt("udp_connect_min_interval_health_monitor", default=3),
]

_database_opts = [
    cfg.StrOpt("connection", default=None, secret=True,
               help="SQLAlchemy URL. Unset: sqlite:///<state_dir>/octolb.db"),
]

_health_manager_opts = [
    cfg.StrOpt("bind_ip", default="127.0.0.1"),
    cfg.PortOpt("bind_port", default=5555),
    cfg.ListOpt("controller_ip_port_list", default=[],
                help="Where amphorae send heartbeats. Empty: bind_ip:bind_port."),
    cfg.IntOpt("heartbeat_interval", default=1,
               help="Seconds between heartbeats (Octavia: 10; amphorae here are cheap)."),
    cfg.StrOpt("heartbeat_key", default=None, secret=True,
               help="HMAC key. Unset: generated into <state_dir>/heartbeat.key on first start."),
    cfg.IntOpt("heartbeat_timeout", default=3,
               help="Seconds of silence after which an amphora is failed over (Octavia: 60)."),
    cfg.FloatOpt("health_check_interval", default=0.5,
                 help="Seconds between checks for silent amphorae (Octavia: 3)."),
    cfg.IntOpt("failover_threshold", default=None,
               help="Circuit breaker: when this many amphorae are silent at once, the fault "
                    "is taken to be on the controller's side; they are marked "
                    "FAILOVER_STOPPED instead of being failed over."),
]

_haproxy_amphora_opts = [
    cfg.PortOpt("bind_port", default=9443, help="Agent port on each amphora address."),
    cfg.StrOpt("haproxy_cmd", default="/usr/sbin/haproxy"),
    cfg.IntOpt("timeout_client_data", default=50000),
    cfg.IntOpt("timeout_member_connect", default=5000),
    cfg.IntOpt("timeout_member_data", default=50000),
    cfg.IntOpt("timeout_tcp_inspect", default=0),
    cfg.IntOpt("default_connection_limit", default=50000),
    cfg.BoolOpt("connection_logging", default=False,
                help="Per-connection logs (Octavia default True; the largest avoidable cost)."),
    cfg.FloatOpt("rest_request_conn_timeout", default=2.0),
    cfg.FloatOpt("rest_request_read_timeout", default=30.0),
    cfg.IntOpt("connection_max_retries", default=60),
    cfg.FloatOpt("connection_retry_interval", default=0.25),
]

_controller_worker_opts = [
    cfg.StrOpt("compute_driver", default="local", choices=["local"]),
    cfg.StrOpt("network_driver", default="local", choices=["local"]),
    cfg.StrOpt("loadbalancer_topology", default="SINGLE", choices=["SINGLE"]),
    cfg.IntOpt("lease_seconds", default=60,
               help="How long a worker holds a load balancer while reconciling it."),
    cfg.IntOpt("workers", default=4, help="Reconcile threads."),
    cfg.IntOpt("failover_max_attempts", default=5,
               help="Failed failovers are retried with back-off this many times; then the "
                    "load balancer goes to ERROR with the reason (a `loadbalancer failover` "
                    "starts again)."),
    cfg.FloatOpt("failover_retry_backoff", default=1.0,
                 help="Seconds before the first failover retry; doubled each time, at most "
                      "30."),
]

_compute_local_opts = [
    cfg.StrOpt("mgmt_cidr", default="127.2.0.0/16",
               help="Loopback range from which amphora management addresses are taken."),
    cfg.StrOpt("python", default=None, help="Interpreter for agents (default: this one)."),
]

_networking_opts = [
    cfg.StrOpt("seed_network_name", default="private"),
    cfg.StrOpt("seed_subnet_name", default="private-subnet"),
    cfg.StrOpt("seed_subnet_cidr", default="127.1.0.0/16"),
    cfg.ListOpt("reserved_ips", default=["169.254.169.254"]),
]

_house_keeping_opts = [
    cfg.IntOpt("cleanup_interval", default=30),
    cfg.IntOpt("load_balancer_expiry_age", default=604800,
               help="Seconds a DELETED load balancer row is kept before it is purged."),
    cfg.IntOpt("amphora_expiry_age", default=604800,
               help="Seconds a DELETED amphora row is kept before it is purged."),
    cfg.IntOpt("cert_interval", default=3600,
               help="Seconds between checks for amphora certificates about to expire."),
    cfg.IntOpt("cert_expiry_buffer", default=1209600,
               help="Certificates expiring within this many seconds are replaced."),
    cfg.IntOpt("spare_amphora_pool_size", default=0,
               help="READY amphorae kept running without a load balancer, so a create or "
                    "a failover skips the boot."),
    cfg.FloatOpt("spare_check_interval", default=2.0),
]

_certificates_opts = [
    cfg.IntOpt("cert_validity_time", default=2592000),
]

CONF.register_opts(_default_opts)
CONF.register_opts(_api_opts, group="api_settings")
CONF.register_opts(_database_opts, group="database")
CONF.register_opts(_health_manager_opts, group="health_manager")
CONF.register_opts(_haproxy_amphora_opts, group="haproxy_amphora")
CONF.register_opts(_controller_worker_opts, group="controller_worker")
CONF.register_opts(_compute_local_opts, group="compute_local")
CONF.register_opts(_networking_opts, group="networking")
CONF.register_opts(_house_keeping_opts, group="house_keeping")
CONF.register_opts(_certificates_opts, group="certificates")


def load(args: list[str] | None = None) -> cfg.ConfigOpts:
    """Parse command-line `--config-file` and friends; safe to call more than once."""
    CONF.reset()
    CONF(args or [], project="octolb", default_config_files=[])
    return CONF


def state_path(*parts: str) -> Path:
    return Path(CONF.state_dir).joinpath(*parts)


def database_url() -> str:
    return CONF.database.connection or f"sqlite:///{state_path('octolb.db')}"


def heartbeat_destinations() -> list[str]:
    hm = CONF.health_manager
    return list(hm.controller_ip_port_list) or [f"{hm.bind_ip}:{hm.bind_port}"]

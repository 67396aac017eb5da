"""oslo.config options. Section and option names follow octavia.conf where the concept is shared."""

from __future__ import annotations

import os
from pathlib import Path

from oslo_config import cfg
from oslo_policy import opts as policy_opts

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
               help="noauth: no token; the caller is noauth_project_id with noauth_roles "
                    "(admin by default), or what X-Project-Id / X-Roles / X-User-Id say "
                    "when noauth_trust_headers is set. keystone: keystonemiddleware's "
                    "auth_token ([keystone_authtoken]) validates X-Auth-Token and the "
                    "token's project, roles and user are used. Either way every request "
                    "is checked against the oslo.policy rules ([oslo_policy])."),
    cfg.ListOpt("noauth_roles", default=["admin"],
                help="Roles of a noauth caller (when no trusted X-Roles header is sent)."),
    cfg.BoolOpt("noauth_trust_headers", default=True,
                help="noauth: take the project, roles and user from X-Project-Id, X-Roles "
                     "and X-User-Id when sent (Octavia's noauth honours X-Project-Id). "
                     "Anyone who reaches the API can then claim any role: set false "
                     "whenever noauth_roles is narrowed below admin."),
    cfg.StrOpt("noauth_project_id", default="octolb",
               help="Project owning objects created without keystone and without X-Project-Id."),
    cfg.IntOpt("pagination_max_limit", default=1000),
    cfg.StrOpt("api_base_uri", default=None),
    cfg.StrOpt("default_provider_driver", default="amphora"),
    cfg.ListOpt("enabled_provider_drivers", default=["amphora", "octavia"]),
    cfg.BoolOpt("allow_ping_health_monitors", default=True),
    cfg.IntOpt("udp_connect_min_interval_health_monitor", default=3),
    # TERMINATED_HTTPS listeners and TLS to members (octolb/api/listener_tls.py)
    cfg.BoolOpt("allow_tls_terminated_listeners", default=True),
    cfg.StrOpt("default_listener_ciphers", default=(
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")),
    cfg.ListOpt("default_listener_tls_versions", default=["TLSv1.2", "TLSv1.3"]),
    cfg.ListOpt("default_listener_alpn_protocols", default=["h2", "http/1.1", "http/1.0"]),
    cfg.StrOpt("default_pool_ciphers", default=(
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")),
    cfg.ListOpt("default_pool_tls_versions", default=["TLSv1.2", "TLSv1.3"]),
    cfg.ListOpt("default_pool_alpn_protocols", default=["h2", "http/1.1", "http/1.0"]),
    cfg.StrOpt("minimum_tls_version", default=None,
               choices=["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]),
    cfg.StrOpt("tls_cipher_prohibit_list", default="",
               help="Colon-separated OpenSSL cipher names refused in tls_ciphers."),
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
    cfg.StrOpt("compute_driver", default="local",
               choices=["local", "noop"],
               help="local: amphorae are processes here. noop (Octavia's "
                    "compute_noop_driver): nothing is built, for API-level test suites."),
    cfg.StrOpt("amphora_driver", default="haproxy_rest",
               choices=["haproxy_rest", "noop"],
               help="haproxy_rest: configurations are pushed to the amphora agents. noop: "
                    "nothing is pushed and no heartbeat is expected (no failover)."),
    cfg.StrOpt("network_driver", default="local",
               choices=["local", "noop"],
               help="local: the built-in network service. noop: any network, subnet or "
                    "port id is accepted without lookup and VIP addresses are made up."),
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

_quota_opts = [
    cfg.IntOpt(f"default_{name}_quota", default=-1, min=-1, max=2000000000,
               help=f"{what} a project may have when its quota does not say (-1: unlimited).")
    for name, what in (("load_balancer", "Load balancers"), ("listener", "Listeners"),
                       ("member", "Members"), ("pool", "Pools"),
                       ("health_monitor", "Health monitors"), ("l7policy", "L7 policies"),
                       ("l7rule", "L7 rules"))
]

CONF.register_opts(_default_opts)
CONF.register_opts(_quota_opts, group="quotas")
CONF.register_opts(_api_opts, group="api_settings")
CONF.register_opts(_database_opts, group="database")
CONF.register_opts(_health_manager_opts, group="health_manager")
CONF.register_opts(_haproxy_amphora_opts, group="haproxy_amphora")
CONF.register_opts(_controller_worker_opts, group="controller_worker")
CONF.register_opts(_compute_local_opts, group="compute_local")
CONF.register_opts(_networking_opts, group="networking")
CONF.register_opts(_house_keeping_opts, group="house_keeping")
CONF.register_opts(_certificates_opts, group="certificates")
policy_opts.set_defaults(CONF)  # [oslo_policy]: policy_file, enforce_new_defaults, ...


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

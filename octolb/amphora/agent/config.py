"""The agent's INI configuration (the sections of Octavia's amphora-agent.conf we use)."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """The agent configuration file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class AgentConfig:
    amphora_id: str
    agent_server_cert: Path
    agent_server_ca: Path
    bind_host: str
    bind_port: int
    base_path: Path
    haproxy_cmd: str
    controller_ip_port_list: list[str]
    heartbeat_interval: float
    heartbeat_key: str
    agent_request_read_timeout: float = 180.0
    # Seconds between the watchdog's scans for a dead HAProxy that no pidfd watches (a
    # watched master is restarted the moment it exits, whatever this is).
    watchdog_interval: float = 2.0

    def __repr__(self) -> str:  # never show the heartbeat key in logs or tracebacks
        return (
            f"AgentConfig(amphora_id={self.amphora_id!r}, "
            f"bind={self.bind_host}:{self.bind_port})"
        )


def _positive(value: float, name: str) -> float:
    if not value > 0:  # also NaN
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def load_config(path: Path) -> AgentConfig:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc

    def get(section: str, option: str, default: str | None = None) -> str:
        value = parser.get(section, option, fallback=default)
        if value is None or value.strip() == "":
            if default is not None:
                return default
            raise ConfigError(f"[{section}] {option} is required")
        return value.strip()

    try:
        destinations = [
            d.strip() for d in get("health_manager", "controller_ip_port_list", "").split(",")
            if d.strip()
        ]
        return AgentConfig(
            amphora_id=get("amphora_agent", "amphora_id"),
            agent_server_cert=Path(get("amphora_agent", "agent_server_cert")),
            agent_server_ca=Path(get("amphora_agent", "agent_server_ca")),
            agent_request_read_timeout=float(
                get("amphora_agent", "agent_request_read_timeout", "180")
            ),
            bind_host=get("haproxy_amphora", "bind_host", "::"),
            bind_port=int(get("haproxy_amphora", "bind_port", "9443")),
            base_path=Path(get("haproxy_amphora", "base_path")).absolute(),
            haproxy_cmd=get("haproxy_amphora", "haproxy_cmd", "/usr/sbin/haproxy"),
            watchdog_interval=_positive(
                float(get("haproxy_amphora", "watchdog_interval", "2")), "watchdog_interval"),
            controller_ip_port_list=destinations,
            heartbeat_interval=float(get("health_manager", "heartbeat_interval", "10")),
            heartbeat_key=get("health_manager", "heartbeat_key"),
        )
    except ValueError as exc:
        raise ConfigError(f"invalid value in {path}: {exc}") from exc

"""``python -m octolb.amphora.agent --config-file agent.ini``: run one amphora agent.

SIGTERM (or SIGINT) stops the agent's HAProxy processes and exits: that is how an
amphora is deleted. SIGKILL leaves HAProxy running; a new agent adopts it.
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
import threading
import time
from pathlib import Path

from .config import AgentConfig, ConfigError, load_config
from .haproxy import HAProxyManager
from .heartbeat import HeartbeatSender
from .server import AgentApp, AgentHTTPServer, TLSContextSource

LOG = logging.getLogger("octolb.amphora.agent")
# Seconds between rounds that delete servers left in maintenance by a runtime change
LEFTOVERS_INTERVAL = 0.5


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard one; HAProxy inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            LOG.warning("cannot raise RLIMIT_NOFILE to %s: %s", hard, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="octolb-amphora-agent")
    parser.add_argument("--config-file", required=True, type=Path)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    try:
        conf = load_config(args.config_file)
    except ConfigError as exc:
        LOG.error("%s", exc)
        return 2

    nofile = raise_nofile_limit()
    conf.base_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    haproxy = HAProxyManager(conf.base_path, conf.haproxy_cmd, conf.amphora_id)
    haproxy.install_helpers()  # before start_all: a configuration may name them

    stopping = threading.Event()
    # The fallback scan for a dead HAProxy (the pidfd death watch restarts a master at once);
    # its interval can change with a configuration update.
    watchdog = {"interval": conf.watchdog_interval,
                "due": time.monotonic() + conf.watchdog_interval}

    def on_config(new: AgentConfig) -> None:
        heartbeat.reconfigure(new.heartbeat_key, new.controller_ip_port_list,
                              new.heartbeat_interval)
        watchdog["interval"] = new.watchdog_interval
        watchdog["due"] = time.monotonic() + new.watchdog_interval

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        server = AgentHTTPServer(
            (conf.bind_host, conf.bind_port),
            AgentApp(haproxy, conf.agent_server_cert, args.config_file, on_config),
            TLSContextSource(conf.agent_server_cert, conf.agent_server_ca),
            conf.agent_request_read_timeout,
        )
        server.tls.get()  # fail now, not on the first connection, if the TLS files are bad
    except OSError as exc:  # ssl.SSLError is an OSError
        LOG.error("cannot serve on %s:%s: %s", conf.bind_host, conf.bind_port, exc)
        return 1

    # An amphora that rebooted (or whose HAProxy died with the agent away) serves again;
    # from now on a master that exits is started again at once.
    haproxy.start_watching()
    haproxy.start_all()
    heartbeat = HeartbeatSender(
        conf.amphora_id, conf.heartbeat_key, conf.controller_ip_port_list,
        conf.heartbeat_interval, haproxy,
    )
    heartbeat.start()
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="agent-api", daemon=True
    )
    serving.start()
    LOG.info(
        "amphora %s agent listening on %s:%s (RLIMIT_NOFILE %d)",
        conf.amphora_id, conf.bind_host, conf.bind_port, nofile,
    )

    leftovers_due = time.monotonic() + LEFTOVERS_INTERVAL
    while not stopping.wait(0.2):  # short waits: signal handlers run between them
        now = time.monotonic()
        if now >= leftovers_due:
            haproxy.reap_leftovers()
            leftovers_due = time.monotonic() + LEFTOVERS_INTERVAL
        if now >= watchdog["due"]:
            haproxy.restart_dead()
            watchdog["due"] = time.monotonic() + watchdog["interval"]

    LOG.info("stopping: HAProxy processes and agent")
    haproxy.stop_watching()  # before stopping HAProxy: those exits are no deaths
    heartbeat.stop()
    server.shutdown()
    server.server_close()
    haproxy.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

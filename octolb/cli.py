"""`octolb` entry point.

  octolb up      API + worker + health manager + housekeeping in one process (SQLite)
  octolb down    stop the amphorae of a state directory
  octolb db-upgrade   run the alembic migrations
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

import yaml

from octolb import config
from octolb.config import CONF

LOG = logging.getLogger("octolb")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="octolb", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["up", "down", "db-upgrade"])
    p.add_argument("--config-file", action="append", default=[],
                   help="octolb.conf (oslo.config INI; may be given more than once)")
    p.add_argument("--state-dir", help="state directory (default: $XDG_STATE_HOME/octolb)")
    p.add_argument("--api-port", type=int, help="override [api_settings] bind_port")
    p.add_argument("--health-port", type=int, help="override [health_manager] bind_port")
    p.add_argument("--no-user-clouds-yaml", action="store_true",
                   help="write clouds.yaml only into the state directory, not into "
                        "~/.config/openstack/clouds.yaml")
    return p.parse_args(argv)


def _configure(args: argparse.Namespace) -> None:
    oslo_args = []
    for f in args.config_file:
        oslo_args += ["--config-file", f]
    config.load(oslo_args)
    if args.state_dir:
        CONF.set_override("state_dir", os.path.abspath(args.state_dir))
    if args.api_port:
        CONF.set_override("bind_port", args.api_port, group="api_settings")
    if args.health_port:
        CONF.set_override("bind_port", args.health_port, group="health_manager")
    logging.basicConfig(
        level=logging.DEBUG if CONF.debug else logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def heartbeat_key() -> str:
    if CONF.health_manager.heartbeat_key:
        return CONF.health_manager.heartbeat_key
    path = config.state_path("heartbeat.key")
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def clouds_yaml(api_url: str) -> dict:
    # With `auth_type: none` every service without an `*_endpoint_override` gets the
    # noauth plugin's `endpoint`: python-barbicanclient ignores the override and asks the
    # session for `key-manager`, so that endpoint is the built-in key manager's v1 (the
    # noauth plugin hands it out as it is, with no version discovery).
    return {"auth_type": "none",
            "auth": {"endpoint": f"{api_url}/key-manager/v1"},
            "key_manager_endpoint_override": f"{api_url}/key-manager/",
            "load_balancer_endpoint_override": f"{api_url}/",
            "network_endpoint_override": f"{api_url}/network/",
            "region_name": "RegionOne"}


def write_clouds_yaml(api_url: str, user_file: bool) -> list[Path]:
    """The stock `openstack --os-cloud octolb ...` works with no Keystone.

    With `auth_strategy = keystone` nothing is written: every request needs a token, so an
    `auth_type: none` entry could only fail; clients use their cloud's own credentials and
    find octolb in Keystone's catalog (or through `--os-endpoint-override`)."""
    if CONF.api_settings.auth_strategy == "keystone":
        return []
    entry = clouds_yaml(api_url)
    targets = [config.state_path("clouds.yaml")]
    if user_file:
        targets.append(Path.home() / ".config" / "openstack" / "clouds.yaml")
    for path in targets:
        doc = {}
        if path.exists():
            doc = yaml.safe_load(path.read_text()) or {}
        doc.setdefault("clouds", {})["octolb"] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, default_flow_style=False))
    return targets


def prepare():
    """First start creates the state directory, CA, heartbeat key, schema and seed network."""
    from octolb.certs.local_ca import ensure_ca
    from octolb.db import migrate
    from octolb.db import session as dbs
    from octolb.network import local as network

    state = Path(CONF.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    key = heartbeat_key()
    ca = ensure_ca(state / "ca")
    url = config.database_url()
    migrate.upgrade(url)
    dbs.configure(url)
    n = CONF.networking
    with dbs.transaction() as s:
        network.seed(s, n.seed_network_name, n.seed_subnet_name, n.seed_subnet_cidr)
    return ca, key


def compute_driver():
    from octolb.compute.base import NoopComputeDriver
    from octolb.compute.local import LocalComputeDriver

    if CONF.controller_worker.compute_driver == "noop":
        return NoopComputeDriver()
    return LocalComputeDriver(config.state_path("amphorae"),
                              python=CONF.compute_local.python or sys.executable)


def up(args: argparse.Namespace) -> int:
    import uvicorn

    from octolb.amphora.client import AmphoraClient
    from octolb.amphora.noop import NoopAmphoraClient
    from octolb.api import keystone  # auth_token in front when auth_strategy = keystone
    from octolb.api.app import create_app
    from octolb.controller.bus import InProcessBus
    from octolb.controller.health import HealthManager
    from octolb.controller.housekeeping import Housekeeping
    from octolb.controller.reconcile import Drivers
    from octolb.controller.worker import Worker

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # thread dump for operators
    ca, key = prepare()
    hap, hm, api = CONF.haproxy_amphora, CONF.health_manager, CONF.api_settings
    bus = InProcessBus()
    drivers = Drivers(
        compute=compute_driver(),
        client=NoopAmphoraClient(bind_port=hap.bind_port)
        if CONF.controller_worker.amphora_driver == "noop" else
        AmphoraClient(ca.ca_cert_path, ca.client_cert_path, bind_port=hap.bind_port,
                      conn_timeout=hap.rest_request_conn_timeout,
                      read_timeout=hap.rest_request_read_timeout),
        ca=ca, heartbeat_key=key, amphora_base=config.state_path("amphorae"))
    health = HealthManager(hm.bind_ip, hm.bind_port, key, bus, hm.heartbeat_interval,
                           hm.heartbeat_timeout, hm.health_check_interval,
                           hm.failover_threshold)
    worker = Worker(bus, drivers, threads=CONF.controller_worker.workers)
    housekeeping = Housekeeping(drivers)
    api_url = f"http://{api.bind_host}:{api.bind_port}"
    clouds = write_clouds_yaml(api_url, user_file=not args.no_user_clouds_yaml)
    health.start()
    stop_death_watch = drivers.compute.watch_deaths(health.amphora_died)
    worker.start()
    housekeeping.start()
    print(f"octolb API            {api_url}  (load-balancer v2; network API at "
          f"{api_url}/network; key manager at {api_url}/key-manager)", flush=True)
    print(f"health manager        udp://{hm.bind_ip}:{hm.bind_port}", flush=True)
    print(f"state directory       {CONF.state_dir}", flush=True)
    if clouds:
        print(f"clouds.yaml           {', '.join(map(str, clouds))}", flush=True)
        print("try: openstack --os-cloud octolb loadbalancer create --name lb1 "
              "--vip-subnet-id private-subnet --wait", flush=True)
    else:
        print("clouds.yaml           not written (auth_strategy = keystone: use your cloud's "
              "credentials; octolb is the load-balancer endpoint in its catalog)", flush=True)
    server = uvicorn.Server(uvicorn.Config(keystone.wrap(create_app(bus)), host=api.bind_host,
                                           port=api.bind_port, log_level="warning",
                                           access_log=False))
    try:
        server.run()
    finally:
        # Amphorae keep serving: they outlive the controller, as VMs outlive Octavia.
        housekeeping.stop()
        worker.stop()
        if stop_death_watch is not None:
            stop_death_watch()
        health.stop()
    return 0


def down(_args: argparse.Namespace) -> int:
    driver = compute_driver()
    ids = driver.list()
    driver.delete_many(ids)
    print(f"stopped {len(ids)} amphorae of {CONF.state_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _configure(args)
    if args.command == "up":
        return up(args)
    if args.command == "down":
        return down(args)
    from octolb.db import migrate

    Path(CONF.state_dir).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(config.database_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())

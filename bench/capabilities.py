"""What octolb can do at the time of the run, asked of octolb itself, so the report says
"not measured yet" only for what is really missing (and notices when it stops being so)."""

from __future__ import annotations

import re
import subprocess

from .octolb_proc import BIN, ROOT


def static() -> dict:
    """Commands of the `octolb` CLI and the choices of the driver/topology options."""
    out: dict = {}
    try:
        text = subprocess.run([str(BIN / "octolb"), "--help"], capture_output=True,
                              text=True, timeout=60, cwd=ROOT).stdout
        m = re.search(r"\{([a-z,-]+)\}", text)
        out["commands"] = m[1].split(",") if m else []
    except (OSError, subprocess.TimeoutExpired):
        out["commands"] = []
    try:
        from octolb import config

        for opt in getattr(config, "_controller_worker_opts", []):
            choices = getattr(opt.type, "choices", None)
            if choices:
                out[opt.name] = list(choices)
    except Exception as exc:  # noqa: BLE001 - a missing fact, not a failure
        out["config_error"] = str(exc)
    out["defaults"] = octolb_defaults()
    return out


def octolb_defaults() -> dict:
    """The health manager's defaults in force in this tree (they change as octolb grows)."""
    out: dict = {}
    try:
        from octolb import config

        for group, opts in (("health_manager", "_health_manager_opts"),
                            ("haproxy_amphora", "_haproxy_amphora_opts")):
            out[group] = {o.name: o.default for o in getattr(config, opts, [])
                          if o.name in ("heartbeat_interval", "heartbeat_timeout",
                                        "health_check_interval", "failover_threshold",
                                        "connection_logging")}
    except Exception as exc:  # noqa: BLE001 - a missing fact, not a failure
        out["error"] = str(exc)
    return out


def tls_listener(api, lb_id: str) -> dict:
    """Ask for a TERMINATED_HTTPS listener: 501 means the provider cannot do it yet."""
    r = api.http.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref":
            "http://127.0.0.1/v1/containers/00000000-0000-4000-8000-000000000000"}})
    try:
        fault = r.json().get("faultstring")
    except ValueError:
        fault = r.text[:200]
    if r.status_code in (201, 202):  # it exists: take it away again
        api.http.delete(f"/v2/lbaas/listeners/{r.json()['listener']['id']}")
    return {"status": r.status_code, "faultstring": fault}


def not_measured(caps: dict, tls: dict | None, tls_measured: bool = False
                 ) -> list[tuple[str, str]]:
    """(what, why) for every case of the issue this run could not measure."""
    out = []
    if tls_measured:
        pass
    elif tls is None:
        out.append(("TLS-terminated listener (data plane)", "the capability check did not run"))
    elif tls["status"] == 501:
        out.append(("TLS-terminated listener (data plane)", "octolb answers 501 to a "
                    f"TERMINATED_HTTPS listener (\"{tls['faultstring']}\")."))
    else:
        out.append(("TLS-terminated listener (data plane)", "octolb now accepts "
                    f"TERMINATED_HTTPS (a create answered {tls['status']}), but the benchmark "
                    "does not drive it yet: add the case to bench/dataplane.py."))
    topo = caps.get("loadbalancer_topology", [])
    if "ACTIVE_STANDBY" not in topo:
        out.append(("ACTIVE_STANDBY failover", "`[controller_worker] loadbalancer_topology` "
                    f"accepts only {', '.join(topo) or 'SINGLE'}: no keepalived pair exists."))
    else:
        out.append(("ACTIVE_STANDBY failover", "the topology exists now; bench/failover.py "
                    "does not drive it yet."))
    drivers = set(caps.get("compute_driver", [])) | set(caps.get("network_driver", []))
    if not any("noop" in d or "no-op" in d for d in drivers):
        out.append(("Control plane with no-op drivers", "compute/network drivers are only "
                    f"{', '.join(sorted(drivers)) or 'local'}: there is no no-op driver to "
                    "measure the API and worker apart from real amphorae."))
    cmds = caps.get("commands", [])
    if not {"api", "worker"} <= set(cmds):
        out.append(("Split mode (separate API, worker, health manager; MariaDB/PostgreSQL, "
                    "RabbitMQ)", f"`octolb` has only the commands {', '.join(cmds)}: only "
                    "the all-in-one `octolb up` on SQLite exists."))
    out.append(("UDP/SCTP listeners", "out of the issue's scope; UDP has no data path yet "
                "and this kernel has no SCTP."))
    return out

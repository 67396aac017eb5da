"""Failover: the gap a client probing every 50 ms (a new connection each time) sees when a
SINGLE amphora's processes are killed with SIGKILL (found by their pid files under
<state_dir>/amphorae/<amp_id>): the whole amphora (agent + HAProxy), and HAProxy alone with
the agent still alive. Bounded: a gap longer than the bound is reported as not recovered."""

from __future__ import annotations

import time

from . import capabilities, procs
from .api import Api, http_lb
from .probe import Probe
from .workspace import Workspace

PROBE_INTERVAL = 0.05

# Set by the benchmark, so that runs compare over time whatever octolb's defaults become.
FIXED = {"heartbeat_interval": 1, "heartbeat_timeout": 6, "health_check_interval": 1}


def kill_and_watch(o, api: Api, env: dict, what: str, bound: float) -> dict:
    amp_id = api.amphorae(env["lb_id"])[0]["id"]
    haproxy = o.haproxy_pids(amp_id)
    agent = o.agent_pid(amp_id)
    victims = haproxy + ([agent] if what == "amphora" and agent else [])
    probe = Probe(env["vip"], env["port"], interval=PROBE_INTERVAL, timeout=0.5,
                  keep_alive=False).start()
    try:
        time.sleep(1.0)
        t_kill = time.monotonic()
        procs.kill9(victims)
        recovered = None
        while time.monotonic() - t_kill < bound:
            time.sleep(0.1)
            events = [e for e in probe.snapshot() if e[0] > t_kill]
            fails = [e for e in events if e[1] is None]
            if fails:
                after = [e for e in events if e[0] > fails[0][0] and e[1] is not None]
                if after:
                    recovered = after[0][0]
                    break
            elif time.monotonic() - t_kill > 5 and events:
                break  # nothing ever failed: no gap
        time.sleep(0.3)
        events = probe.snapshot()
    finally:
        probe.stop()
    before = [t for t, b in events if t <= t_kill and b is not None]
    failed = [t for t, b in events if t > t_kill and b is None]
    out = {"killed": what, "pids_killed": len(victims), "bound_s": bound,
           "probes_failed": len(failed), "recovered": recovered is not None or not failed}
    if failed and recovered is not None:
        out["gap_s"] = recovered - (before[-1] if before else t_kill)
    elif failed:
        out["gap_s"] = None
        out["not_recovered_after_s"] = bound
    else:
        out["gap_s"] = 0.0
    new = api.amphorae(env["lb_id"])
    out["amphora_replaced"] = bool(new) and new[0]["id"] != amp_id
    out["lb_after"] = {k: api.lb(env["lb_id"])[k]
                       for k in ("provisioning_status", "operating_status")}
    return out


def ready_spares(api: Api) -> int:
    return len(api.call("GET", "/v2/octavia/amphorae?status=READY")["amphorae"])


def scenario(ws: Workspace, name: str, hm: dict, kills: list[tuple[str, float]],
             pool, override: bool = True, spares: int = 0) -> dict:
    """`hm`: the health manager settings in force; written to octolb.conf if `override`.
    `spares`: the size of the spare pool; a ready spare is waited for before each kill."""
    settings = {"health_manager": hm} if override else {}
    if spares:
        settings["house_keeping"] = {"spare_amphora_pool_size": spares,
                                     "spare_check_interval": 1}
    o = ws.octolb(f"octolb-failover-{name}", settings or None)
    started = time.monotonic()
    api = Api(o.url)
    ws.stack.callback(api.close)
    env = http_lb(api, pool, port=80, protocol="HTTP")
    runs = []
    for what, bound in kills:
        api.wait_active(env["lb_id"], timeout=120)
        # the health manager looks only after a full heartbeat_timeout from its start
        wait = hm["heartbeat_timeout"] + 2 - (time.monotonic() - started)
        if wait > 0:
            ws.log(f"  waiting {wait:.0f}s: the health manager's start-up grace")
            time.sleep(wait)
        if what == "haproxy":
            env = http_lb(api, pool, port=80, protocol="HTTP")  # a fresh LB for this case
        deadline = time.monotonic() + 60
        while spares and ready_spares(api) < spares and time.monotonic() < deadline:
            time.sleep(0.2)
        r = kill_and_watch(o, api, env, what, bound)
        ws.log(f"  kill -9 {what} ({name}): gap {r.get('gap_s')} s, "
               f"replaced {r['amphora_replaced']}")
        runs.append(r)
    return {"health_manager": hm, "set_by": "benchmark" if override else "octolb defaults",
            "spare_pool": spares, "runs": runs}


def run(ws: Workspace) -> dict:
    a, b = ws.members(["a", "b"])
    pool = [a.addr, b.addr]
    out = {"settings": {"probe_interval_s": PROBE_INTERVAL, "probe": "new TCP connection per "
                        "request, 0.5 s timeout"}}
    defaults = capabilities.octolb_defaults().get("health_manager") or {}
    defaults = {k: defaults.get(k) for k in FIXED}
    if None in defaults.values():
        defaults = {}
    if ws.quick:
        ws.log(f"failover: octolb's defaults {defaults}, whole amphora killed once")
        if defaults:
            out["defaults"] = scenario(ws, "defaults", defaults, [("amphora", 90)], pool,
                                       override=False)
            out["spare"] = scenario(ws, "spare", defaults, [("amphora", 90)], pool,
                                    override=False, spares=1)
        return out
    ws.log(f"failover: heartbeat settings set by the benchmark {FIXED}")
    out["fixed"] = scenario(ws, "fixed", FIXED, [("amphora", 120)] * 3 + [("haproxy", 45)],
                            pool)
    if defaults:
        bound = defaults["heartbeat_timeout"] + 60
        ws.log(f"failover: octolb's defaults {defaults}")
        out["defaults"] = scenario(ws, "defaults", defaults, [("amphora", bound)] * 3, pool,
                                   override=False)
        ws.log(f"failover: octolb's defaults {defaults} and a spare pool of 1")
        out["spare"] = scenario(ws, "spare", defaults, [("amphora", bound)] * 3, pool,
                                override=False, spares=1)
    return out

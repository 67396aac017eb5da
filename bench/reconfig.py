"""Reconfiguration: requests failed while members change under load (wrk -c50 on an octolb
HTTP listener while the API adds and removes a member, one change after the other, each
until ACTIVE), and the time from the API call adding a member to the first request it serves."""

from __future__ import annotations

import time

from . import wrk
from .api import Api, http_lb
from .probe import Probe
from .stats import percentile, summary
from .workspace import Workspace

RESTART_LINE = "is not running: starting it again"  # the agent's watchdog, in agent.log


def masters(o, api: Api, env: dict) -> dict:
    amp = api.amphorae(env["lb_id"])[0]["id"]
    return {"haproxy_masters": len(o.haproxy_masters_running(amp)),
            "agent_watchdog_restarts": o.agent_log_count(amp, RESTART_LINE)}


def under_load(ws: Workspace, api: Api, env: dict, members, method: str, n: int) -> dict:
    a, b, c = members
    lb, pool = env["lb_id"], env["pool_id"]
    load = wrk.Background(f"http://{env['vip']}:{env['port']}/", ws.dir("wrk") / f"{method}.log",
                          max_duration=900)
    ws.stack.callback(load.stop)
    time.sleep(1.0)
    took = []
    member_c = None
    try:
        for i in range(n):
            t0 = time.monotonic()
            adding = i % 2 == 0
            if method == "post_delete":
                if adding:
                    member_c = api.create_member(lb, pool, *c.addr)["id"]
                else:
                    api.delete_member(lb, pool, member_c)
            else:
                api.batch_members(lb, pool, [a.addr, b.addr] + ([c.addr] if adding else []))
            took.append(time.monotonic() - t0)
        time.sleep(1.0)
    finally:
        res = load.finish()
    if n % 2:  # leave the pool as it was: a and b
        api.batch_members(lb, pool, [a.addr, b.addr])
    return {"method": method, "changes": n, "wrk": res,
            "requests": res.get("requests"), "failed": res.get("errors"),
            "failed_per_change": (res.get("errors") or 0) / n,
            "change_to_active_s": summary(took),
            "change_to_active_p99_s": percentile(took, 99)}


def first_serve(api: Api, env: dict, c, samples: int, timeout: float = 10.0,
                max_misses: int = 3) -> dict:
    """New connection per probe request (any new client), every ~2 ms."""
    lb, pool = env["lb_id"], env["pool_id"]
    probe = Probe(env["vip"], env["port"], interval=0.002, keep_alive=False).start()
    times, to_active, misses = [], [], 0
    try:
        time.sleep(0.3)
        for _ in range(samples):
            t0 = time.monotonic()
            m = api.create_member(lb, pool, *c.addr, wait=False)
            api.wait_active(lb)
            t_active = time.monotonic()
            deadline = time.monotonic() + timeout
            t1 = None
            while t1 is None and time.monotonic() < deadline:
                t1 = probe.first(c.name, t0)
                time.sleep(0.01)
            if t1 is None:
                misses += 1
            else:
                times.append(t1 - t0)
            to_active.append(t_active - t0)
            api.delete_member(lb, pool, m["id"])
            if misses >= max_misses:
                break
            time.sleep(0.2)
        failed = probe.failures()
        total = len(probe.snapshot())
    finally:
        probe.stop()
    return {"samples": samples, "timeout_s": timeout, "api_call_to_first_request_s":
            summary(times),
            "api_call_to_active_s": summary(to_active), "never_served": misses,
            "probe_requests": total, "probe_failed": failed}


def run(ws: Workspace) -> dict:
    n, samples = (10, 5) if ws.quick else (100, 20)
    members = ws.members(["a", "b", "c"])
    a, b, _ = members
    o = ws.octolb("octolb-reconfig")
    api = Api(o.url)
    ws.stack.callback(api.close)
    env = http_lb(api, [a.addr, b.addr], port=80, protocol="HTTP")
    out = {"settings": {"changes": n, "first_serve_samples": samples,
                        "octolb_settings": o.settings, "connections": 50}}
    out["before"] = masters(o, api, env)
    for method in ("post_delete", "batch_put"):
        ws.log(f"reconfig: {n} changes ({method}) under wrk -c50")
        out[method] = under_load(ws, api, env, members, method, n)
        out[method]["after"] = masters(o, api, env)
        ws.log(f"  failed {out[method]['failed']} of {out[method]['requests']}; "
               f"{out[method]['after']}")
    ws.log(f"reconfig: member add -> first request, {samples} samples")
    out["first_serve"] = first_serve(api, env, members[2], samples)
    out["first_serve"]["after"] = masters(o, api, env)
    return out

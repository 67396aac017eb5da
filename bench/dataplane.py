"""Data plane: wrk (keep-alive, -c50) through each path to the same nginx members, the cases
alternated round by round; req/s, p50/p99 and the proxy's CPU µs per request, each also as a
ratio to the direct path measured in the same round."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from . import procs, wrk
from .api import Api, http_lb
from .net import free_port, loopback_net
from .nginx import reverse_proxy
from .octavia_haproxy import OctaviaHAProxy, clamped_maxconn
from .stats import ratio, summary
from .tls import tls_lb
from .workspace import Workspace

CONNECTIONS, THREADS = 50, 2


@dataclass
class Case:
    name: str
    label: str
    url: str
    proxy_pids: Callable[[], list[int]]
    logger_pids: Callable[[], list[int]] = list
    log_count: Callable[[], int | None] | None = None


def setup(ws: Workspace) -> tuple[list[Case], dict]:
    a, b = ws.members(["a", "b"])
    pool = [a.addr, b.addr]
    cases = [Case("direct", "direct to one nginx member", f"http://{a.host}:{a.port}/", list)]

    o = ws.octolb("octolb-dataplane")
    api = Api(o.url)
    ws.stack.callback(api.close)
    web = http_lb(api, pool, port=80, protocol="HTTP")
    tcp = http_lb(api, pool, port=81, protocol="TCP", lb=web["lb"])
    amp_id = api.amphorae(web["lb_id"])[0]["id"]
    cases.append(Case("octolb_http", "octolb HTTP listener", f"http://{web['vip']}:80/",
                      lambda: o.haproxy_pids(amp_id)))
    cases.append(Case("octolb_tcp", "octolb TCP listener", f"http://{tcp['vip']}:81/",
                      lambda: o.haproxy_pids(amp_id)))
    tls = tls_lb(api, web["lb"], pool)
    cases.append(Case("octolb_tls", "octolb TLS-terminated listener (HTTPS in, HTTP to members)",
                      f"https://{tls['vip']}:{tls['port']}/", lambda: o.haproxy_pids(amp_id)))

    host = f"127.{loopback_net()}.0.1"
    port = free_port(host)
    ng = reverse_proxy(ws.dir("nginx-proxy"), host, port, pool, workers=1)
    ws.stack.callback(ng.stop)
    cases.append(Case("nginx", "nginx reverse proxy (1 worker, keep-alive upstream)",
                      f"http://{host}:{port}/", lambda: ng.pids))

    host = f"127.{loopback_net()}.0.1"
    port = free_port(host)
    hap = OctaviaHAProxy(ws.dir("haproxy-octavia"), host, port, pool)
    ws.stack.callback(hap.stop)
    cases.append(Case("haproxy_octavia", "HAProxy, Octavia's configuration (logging on)",
                      f"http://{host}:{port}/", lambda: hap.pids, lambda: hap.logger_pids,
                      hap.log_count))
    members = [a, b]
    info = {"octolb_settings": o.settings, "octavia_maxconn": clamped_maxconn(),
            "_backend_pids": lambda: [p for m in members for p in m.server.pids]}
    return cases, info


def measure(case: Case, duration: float, backend_pids: list[int]) -> dict:
    pids, lpids = case.proxy_pids(), case.logger_pids()
    c0, l0, b0 = (procs.cpu_seconds(pids), procs.cpu_seconds(lpids),
                  procs.cpu_seconds(backend_pids))
    logs0 = case.log_count() if case.log_count else None
    res = wrk.run(case.url, duration, CONNECTIONS, THREADS)
    c1, l1, b1 = (procs.cpu_seconds(pids), procs.cpu_seconds(lpids),
                  procs.cpu_seconds(backend_pids))
    n = res.get("requests") or 0
    if n:
        res["proxy_cpu_us"] = (c1 - c0) / n * 1e6 if pids else None
        res["logger_cpu_us"] = (l1 - l0) / n * 1e6 if lpids else None
        res["backend_cpu_us"] = (b1 - b0) / n * 1e6
    if logs0 is not None and n:
        time.sleep(0.6)  # the receiver writes its count every 0.25 s
        res["log_lines_per_request"] = ((case.log_count() or 0) - logs0) / n
    return res


def run(ws: Workspace) -> dict:
    rounds, duration = (2, 3) if ws.quick else (5, 8)
    cases, info = setup(ws)
    backend_pids = info.pop("_backend_pids")()
    ws.log(f"data plane: {len(cases)} cases x {rounds} rounds x {duration}s")
    for c in cases:  # warm-up: connections, health checks, caches; not recorded
        wrk.run(c.url, 1, CONNECTIONS, THREADS)
    runs: dict[str, list[dict]] = {c.name: [] for c in cases}
    for r in range(rounds):
        order = cases[r % len(cases):] + cases[:r % len(cases)]  # A B C.., B C.. A, ...
        for c in order:
            res = measure(c, duration, backend_pids)
            res["round"] = r
            runs[c.name].append(res)
            ws.log(f"  round {r} {c.name}: {res.get('rps')} req/s p99 {res.get('p99_ms')} ms "
                   f"cpu {res.get('proxy_cpu_us')}")
    return {"settings": {"rounds": rounds, "duration_s": duration, "connections": CONNECTIONS,
                         "wrk_threads": THREADS, **info},
            "cases": {c.name: {"label": c.label, "runs": runs[c.name]} for c in cases},
            "summary": summarize(runs)}


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians (min–max) per case; ratios per round against that round's direct run."""
    direct = {r["round"]: r for r in runs["direct"]}
    direct_cpu = summary([r.get("backend_cpu_us") for r in runs["direct"]])
    out = {}
    for name, rs in runs.items():
        s = {k: summary([r.get(k) for r in rs])
             for k in ("rps", "p50_ms", "p99_ms", "proxy_cpu_us", "logger_cpu_us",
                       "backend_cpu_us", "errors")}
        for k in ("rps", "p50_ms", "p99_ms"):
            s[f"{k}_vs_direct"] = summary([ratio(r.get(k), direct[r["round"]].get(k))
                                           for r in rs if r["round"] in direct])
        # The direct path's cost is the member's own: proxy CPU is put against it.
        s["proxy_cpu_vs_direct_backend"] = summary(
            [ratio(r.get("proxy_cpu_us"), direct[r["round"]].get("backend_cpu_us"))
             for r in rs if r["round"] in direct])
        out[name] = s
    out["_direct_backend_cpu_us"] = direct_cpu
    return out

"""API latency with many load balancers in the database: show and paginated list
(limit=1000) at 1, 1,000 and 10,000 LBs. The rows are copies of one real LB's row, inserted
into the SQLite database of a stopped `octolb up` (they have no amphora and need none);
latency from a sequential keep-alive client, throughput from wrk -c4."""

from __future__ import annotations

import http.client
import random
import sqlite3
import time
import uuid

from . import procs, wrk
from .api import Api
from .stats import percentile
from .workspace import Workspace


def insert_copies(db_path, template_id: str, n: int, vip_net: int, start: int) -> None:
    con = sqlite3.connect(db_path)
    try:
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM load_balancer WHERE id = ?",
                               (template_id,)).fetchone())
        cols = list(row)
        rows = []
        for i in range(start, start + n):
            r = dict(row)
            r.update(id=str(uuid.uuid4()), name=f"bulk-{i}", vip_port_id=str(uuid.uuid4()),
                     vip_address=f"127.{vip_net}.{100 + i // 250}.{1 + i % 250}",
                     lease_owner=None, lease_expires=None)
            rows.append(tuple(r[c] for c in cols))
        con.executemany(f"INSERT INTO load_balancer ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' for _ in cols)})", rows)
        con.commit()
    finally:
        con.close()


def lb_ids(db_path) -> list[str]:
    con = sqlite3.connect(db_path)
    try:
        return [r[0] for r in con.execute("SELECT id FROM load_balancer")]
    finally:
        con.close()


def sequential(port: int, paths: list[str], ctrl_pid: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    lat, bad, size = [], 0, 0
    c0 = procs.cpu_seconds([ctrl_pid])
    t_all = time.monotonic()
    for path in paths:
        t0 = time.monotonic()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        lat.append((time.monotonic() - t0) * 1e3)
        size = len(body)
        bad += r.status != 200
    elapsed = time.monotonic() - t_all
    conn.close()
    cpu = procs.cpu_seconds([ctrl_pid]) - c0
    return {"requests": len(paths), "failed": bad, "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99), "min_ms": min(lat), "max_ms": max(lat),
            "sequential_rps": len(paths) / elapsed, "api_cpu_ms_per_request":
            cpu / len(paths) * 1e3, "response_bytes": size}


def throughput(url: str, script, seconds: float, ctrl_pid: int, connections: int) -> dict:
    c0 = procs.cpu_seconds([ctrl_pid])
    res = wrk.run(url, seconds, connections=connections, threads=1, script=script)
    res["api_cpu_ms_per_request"] = ((procs.cpu_seconds([ctrl_pid]) - c0)
                                     / max(1, res.get("requests") or 0) * 1e3)
    return res


def show_script(path, ids: list[str]):
    sample = random.sample(ids, min(len(ids), 2000))
    path.write_text("ids = {" + ",".join(f'"{i}"' for i in sample) + "}\n"
                    "request = function()\n"
                    "  return wrk.format('GET', '/v2/lbaas/loadbalancers/' .. "
                    "ids[math.random(#ids)])\nend\n")
    return path


def measure(ws: Workspace, o, count: int, shows: int, lists: int, seconds: float) -> dict:
    ids = lb_ids(o.state_dir / "octolb.db")
    pid = o.pid
    show_paths = [f"/v2/lbaas/loadbalancers/{random.choice(ids)}" for _ in range(shows)]
    list_path = "/v2/lbaas/loadbalancers?limit=1000"
    sequential(o.api_port, show_paths[:20], pid)  # warm-up
    out = {"load_balancers": len(ids)}
    out["show"] = sequential(o.api_port, show_paths, pid)
    out["list_1000"] = sequential(o.api_port, [list_path] * lists, pid)
    script = show_script(ws.dir("wrk") / f"show-{count}.lua", ids)
    out["show_wrk_c4"] = throughput(f"{o.url}/", script, seconds, pid, 4)
    out["list_1000_wrk_c2"] = throughput(f"{o.url}{list_path}", None, seconds, pid, 2)
    ws.log(f"  {len(ids)} LBs: show p50 {out['show']['p50_ms']:.1f} ms, list p50 "
           f"{out['list_1000']['p50_ms']:.0f} ms, show {out['show_wrk_c4']['rps']} req/s")
    return out


def run(ws: Workspace) -> dict:
    levels = [1000] if ws.quick else [1, 1000, 10000]
    shows, lists, seconds = (200, 10, 3) if ws.quick else (1000, 30, 5)
    o = ws.octolb("octolb-api")
    api = Api(o.url)
    ws.stack.callback(api.close)
    template = api.create_lb("template")
    api.wait_active(template["id"])
    api.close()
    out = {"settings": {"levels": levels, "show_requests": shows, "list_requests": lists,
                        "wrk_seconds": seconds, "octolb_settings": o.settings}, "levels": []}
    have = 1
    for count in levels:
        if count > have:
            o.stop_controller()
            t0 = time.monotonic()
            insert_copies(o.state_dir / "octolb.db", template["id"], count - have,
                          o.vip_net, have)
            ws.log(f"api latency: inserted {count - have} LB rows in "
                   f"{time.monotonic() - t0:.1f}s")
            have = count
            t0 = time.monotonic()
            o.start()
            start_s = time.monotonic() - t0
        else:
            start_s = None
        level = measure(ws, o, count, shows, lists, seconds)
        level["controller_start_s"] = start_s
        level["controller_memory_kib"] = procs.memory_kib(o.pid)
        out["levels"].append(level)
    return out

"""docs/benchmarks.md from the raw results: the newest full run is the table of record; a
newer quick run is summarised after it (a quick run never replaces the full table)."""

from __future__ import annotations

import json
from pathlib import Path

from .capabilities import not_measured


def _num(v, digits: int | None = None) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or digits == 0:
        return f"{round(v):,}"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 else 3
    return f"{v:,.{digits}f}"


def mm(s: dict | None, digits: int | None = None, unit: str = "") -> str:
    """'median (min–max)' of a summary."""
    if not s:
        return "–"
    if s.get("n", 1) == 1 or s["min"] == s["max"]:
        return f"{_num(s['median'], digits)}{unit}"
    return (f"{_num(s['median'], digits)}{unit} ({_num(s['min'], digits)}–"
            f"{_num(s['max'], digits)})")


def ratio(s: dict | None) -> str:
    return mm(s, 2, "×") if s else "–"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def machine(m: dict) -> list[str]:
    rows = [["date", m["date_utc"]], ["CPU", f"{m['cpu_model']}"], ["cores", str(m["cores"])],
            ["memory", f"{m['memory_gib']} GiB"], ["OS / kernel", f"{m['os']} / {m['kernel']}"],
            ["HAProxy", m["haproxy"] or "–"], ["nginx", m["nginx"] or "–"],
            ["wrk", m["wrk"] or "–"], ["Python", m["python"]],
            ["open files (hard limit)", str(m["rlimit_nofile"])],
            ["octolb commit", f"{m['octolb_commit']}" + (
                f" + {m['working_tree']['changed_files']} files changed in the working tree "
                f"(diff {m['working_tree']['diff_sha1']})"
                if (m.get("working_tree") or {}).get("changed_files") else "")]]
    return _table(["", ""], rows)


def dataplane(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    st = d["settings"]
    out = [f"wrk -t{st['wrk_threads']} -c{st['connections']} (keep-alive), "
           f"{st['duration_s']} s per run, {st['rounds']} rounds, the cases alternated "
           "(each round starts one case later). Medians (min–max) over the rounds; ratios are "
           "taken per round against that round's direct run. Members: 2 nginx processes "
           "(1 worker each, `return 200`).", ""]
    rows = []
    for name, case in d["cases"].items():
        s = d["summary"][name]
        direct = name == "direct"
        cpu = (f"{mm(s['proxy_cpu_us'], 1)}" +
               (f" +{_num(s['logger_cpu_us']['median'], 1)} log receiver"
                if s.get("logger_cpu_us") else "")) if not direct else \
            f"({mm(s['backend_cpu_us'], 1)} in the member)"
        rows.append([case["label"], mm(s["rps"], 0), "1" if direct else ratio(s["rps_vs_direct"]),
                     mm(s["p50_ms"], 2), "1" if direct else ratio(s["p50_ms_vs_direct"]),
                     mm(s["p99_ms"], 2), "1" if direct else ratio(s["p99_ms_vs_direct"]),
                     cpu, "–" if direct else ratio(s["proxy_cpu_vs_direct_backend"]),
                     _num(sum(r.get("errors") or 0 for r in case["runs"]))])
    out += _table(["path", "req/s", "× direct", "p50 ms", "× direct", "p99 ms", "× direct",
                   "proxy CPU µs/req", "CPU × member's", "errors"], rows)
    logs = [r.get("log_lines_per_request") for r in d["cases"].get("haproxy_octavia", {})
            .get("runs", []) if r.get("log_lines_per_request") is not None]
    out += ["", "- *proxy CPU µs/req*: utime+stime of the proxy's processes (HAProxy master "
            "and workers; nginx master and worker) from /proc/<pid>/stat before and after the "
            "run, divided by the requests wrk completed. *CPU × member's* puts it against "
            "the CPU the nginx member itself spends per request on the direct path.",
            "- *octolb HTTP/TCP listener*: one LB created through the API (listener port 80 "
            "and 81, ROUND_ROBIN pool of the 2 members, health monitor HTTP/TCP delay 5 s), "
            "as octolb renders it: `nbthread 1`, `option http-keep-alive`, `http-reuse safe`, "
            "connection logging off (octolb's default).",
            "- *octolb TLS-terminated listener*: a TERMINATED_HTTPS listener on port 443 of "
            "the same LB, its certificate (self-signed EC P-256) stored as a PKCS12 secret in "
            "octolb's key manager; wrk speaks TLS over keep-alive connections (the handshake "
            "is paid once per connection), HTTP to the members.",
            "- *HAProxy, Octavia's configuration*: written by hand from Octavia's template "
            "(see bench/octavia_haproxy.py): connection logging on with Octavia's default "
            "`log-format` to a local unix-datagram receiver (as the amphora's rsyslog), "
            "`option splice-request/-response`, `http-keep-alive`, `http-reuse safe`, "
            f"`maxconn {st.get('octavia_maxconn')}` (Octavia's 50000 clamped to the "
            "open-file limit), no `nbthread` (HAProxy takes one thread per CPU)."
            + (f" The receiver got {_num(sorted(logs)[len(logs) // 2], 2)} log lines per "
               "request (HAProxy drops lines when the receiver falls behind)." if logs else ""),
            "- *nginx reverse proxy*: 1 worker, `upstream` with `keepalive 64`, HTTP/1.1 to "
            "the members, no access log."]
    return out


def reconfig(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    rows = []
    for key, label in (("post_delete", "add / remove a member (POST, DELETE)"),
                       ("batch_put", "batch member update (PUT …/members)")):
        r = d.get(key)
        if r:
            rows.append([label, _num(r["changes"]), _num(r["requests"]), _num(r["failed"]),
                         _num(r["failed_per_change"], 2), mm(r["change_to_active_s"], 2, " s"),
                         _num(r["wrk"].get("rps"), 0)])
    out = ["Member changes one after the other (each waits for ACTIVE) while wrk -c50 "
           "runs against an octolb HTTP listener; a failed request is a wrk socket error or "
           "a non-2xx answer.", ""]
    out += _table(["change", "changes", "requests", "failed", "failed per change",
                   "API call → ACTIVE", "req/s meanwhile"], rows)
    fs = d.get("first_serve")
    if fs:
        out += ["", f"API call adding a member → first request it serves (a client opening a "
                f"new connection every ~2 ms, no other load; {fs['samples']} samples, "
                f"{_num(fs.get('timeout_s'), 0)} s bound each): "
                f"**{mm(fs['api_call_to_first_request_s'], 3, ' s')}**; API call → member "
                f"ACTIVE: {mm(fs['api_call_to_active_s'], 3, ' s')}. Never served within the "
                f"bound: {fs['never_served']}; probe requests failed: {fs['probe_failed']} of "
                f"{fs['probe_requests']}."]
    checks = [(label, d[key]["after"] if key != "before" else d[key])
              for key, label in (("before", "before the changes"),
                                 ("post_delete", "after the POST/DELETE changes"),
                                 ("batch_put", "after the batch updates"),
                                 ("first_serve", "after the first-serve samples"))
              if isinstance(d.get(key), dict) and (key == "before" or "after" in d[key])]
    if checks:
        out += ["", "HAProxy masters running for this load balancer (from /proc; 1 is right) "
                "and restarts by the agent's watchdog (`" + "is not running: starting it "
                "again` in agent.log): " + "; ".join(
                    f"{label}: {c['haproxy_masters']} / {c['agent_watchdog_restarts']}"
                    for label, c in checks) + "."]
    return out


def controlplane(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    rows = [["LB create → ACTIVE", _num(d["create_to_active"]["n"]),
             mm(d["create_to_active"]["seconds"], 3, " s")],
            ["LB delete (cascade) → 404", _num(d["delete_to_gone"]["n"]),
             mm(d["delete_to_gone"]["seconds"], 3, " s")],
            ["quick-start over the API (LB, listener, pool, HM, 2 members, each until "
             "ACTIVE) → first 200", _num(d["quickstart_api"]["n"]),
             mm(d["quickstart_api"]["seconds"], 2, " s")]]
    b = d.get("burst_create")
    if b:
        rows.append([f"{b['n']} LB creates at once → each ACTIVE (all: "
                     f"{_num(b['all_active_s'], 1)} s; reconciles crashed meanwhile: "
                     f"{b['reconcile_crashes_logged']})", _num(b["n"]), mm(b["seconds"], 2, " s")])
    cli = d.get("quickstart_cli")
    if cli:
        rows.append(["the same with the stock `openstack` CLI and `--wait` (7 commands + "
                     "`show`)", "1", f"{_num(cli['seconds'], 1)} s"])
    out = [f"Status polled every {d['settings']['poll_interval_s']} s over the API.", ""]
    out += _table(["sequence", "n", "seconds, median (min–max)"], rows)
    if b and b.get("crash_kinds"):
        out += ["", "Crashes in the burst (octolb log): " + "; ".join(
            f"`{k[:160]}`" for k in b["crash_kinds"]) + ". A crashed reconcile waits for the "
            "worker's 10 s sweep."]
    steps = d["quickstart_api"].get("steps_median_s", {})
    if steps:
        out += ["", "Quick-start steps (medians): " + ", ".join(
            f"{k} {_num(v, 2)} s" for k, v in steps.items()) + "."]
    if cli:
        out += ["", f"One `openstack loadbalancer list` costs {_num(cli['cli_list_seconds'], 1)}"
                " s on this machine (client start-up), and `--wait` polls every few seconds: "
                "with the CLI, the client dominates."]
    return out


def apilatency(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    st = d["settings"]
    out = [f"Rows copied from one real LB straight into the SQLite database of a stopped "
           f"`octolb up`, then `GET /v2/lbaas/loadbalancers/<id>` ({st['show_requests']} "
           f"sequential requests, random ids) and `GET …/loadbalancers?limit=1000` "
           f"({st['list_requests']} sequential requests) on one keep-alive connection; "
           f"throughput with wrk for {st['wrk_seconds']} s (-c4 show, -c2 list). "
           "*API CPU* is the `octolb up` process's CPU per request.", ""]
    rows = []
    for lv in d["levels"]:
        sh, li = lv["show"], lv["list_1000"]
        rows.append([_num(lv["load_balancers"]), f"{_num(sh['p50_ms'], 1)} / "
                     f"{_num(sh['p99_ms'], 1)}", _num(lv["show_wrk_c4"]["rps"], 0),
                     _num(sh["api_cpu_ms_per_request"], 1),
                     f"{_num(li['p50_ms'], 0)} / {_num(li['p99_ms'], 0)}",
                     _num(lv["list_1000_wrk_c2"]["rps"], 1),
                     _num(li["api_cpu_ms_per_request"], 0),
                     _num((lv.get("controller_memory_kib") or {}).get("rss", 0) / 1024, 0)])
    out += _table(["LBs in DB", "show p50 / p99 ms", "show req/s (c4)", "show API CPU ms",
                   "list 1000 p50 / p99 ms", "list req/s (c2)", "list API CPU ms",
                   "controller RSS MiB"], rows)
    return out


def failover(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    out = ["A client opens a new connection every 50 ms (0.5 s timeout) to an octolb HTTP "
           "listener; the amphora's processes, found by their pid files under "
           "`<state_dir>/amphorae/<amp_id>`, get SIGKILL. *Gap*: last answer before the "
           "kill → first answer after it.", ""]
    rows = []
    for key in ("fixed", "tuned", "defaults", "spare"):
        sc = d.get(key)
        if not sc:
            continue
        hm = sc["health_manager"]
        setting = (f"{sc.get('set_by', 'benchmark')}: heartbeat_interval "
                   f"{hm['heartbeat_interval']} s, heartbeat_timeout "
                   f"{hm['heartbeat_timeout']} s, health_check_interval "
                   f"{hm['health_check_interval']} s")
        if sc.get("spare_pool"):
            setting += f", spare pool of {sc['spare_pool']}"
        for r in sc["runs"]:
            what = ("whole amphora (agent + HAProxy)" if r["killed"] == "amphora"
                    else "HAProxy only (agent alive)")
            gap = (f"{_num(r['gap_s'], 2)} s" if r.get("gap_s") is not None else
                   f"not recovered within {_num(r['bound_s'], 0)} s")
            rows.append([setting, what, gap, _num(r["probes_failed"]),
                         "yes" if r["amphora_replaced"] else "no",
                         r["lb_after"]["provisioning_status"] + " / " +
                         r["lb_after"]["operating_status"]])
    out += _table(["health manager settings", "killed", "gap", "probes failed",
                   "amphora replaced", "LB after"], rows)
    out += ["", "A killed amphora is noticed at once: the local compute driver holds a pidfd "
            "per agent and the health manager fails the amphora over when the agent exits, "
            "without waiting for heartbeat_timeout (which still catches a hung or cut-off "
            "amphora). With a spare pool the replacement is an agent already running.",
            "", "Octavia's defaults are heartbeat_interval 10 s, heartbeat_timeout 60 s, "
            "health_check_interval 3 s. octolb's health manager waits one heartbeat_timeout "
            "after its own start before it fails anything over; the benchmark waits that out "
            "before the first kill."]
    return out


def scale(d: dict) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    if "passes" not in d:
        return scale_pass(d)
    out = []
    for key, p in d["passes"].items():
        hm = (p.get("settings", {}).get("octolb_settings", {}).get("health_manager", {}))
        eff = {**(d.get("defaults") or {}), **{k: v for k, v in hm.items() if k != "bind_port"}}
        title = ("octolb's defaults" if key == "defaults" else
                 "Octavia's heartbeat_timeout (60 s)")
        out += [f"### {title}: heartbeat_interval {eff.get('heartbeat_interval')} s, "
                f"heartbeat_timeout {eff.get('heartbeat_timeout')} s, health_check_interval "
                f"{eff.get('health_check_interval')} s", ""]
        out += scale_pass(p, memory_table=key == "defaults") + [""]
    return out


def scale_pass(d: dict, memory_table: bool = True) -> list[str]:
    if "error" in d:
        return [f"Failed: `{d['error']}`"]
    steps = d["steps"]
    out = []
    if steps and memory_table:
        s0 = steps[0]
        ce = d.get("controller_idle_empty") or {}
        out += ["Memory per amphora (median over the amphorae of the first step, "
                f"{s0['load_balancers']} LBs, idle):", ""]
        out += _table(["process", "RSS MiB", "PSS MiB"], [
            [name, _num(s0[f"{key}_rss_kib"] / 1024, 1), _num(s0[f"{key}_pss_kib"] / 1024, 1)]
            for name, key in (("agent (Python)", "agent"), ("HAProxy master", "haproxy_master"),
                              ("HAProxy worker", "haproxy_worker"),
                              ("amphora total", "amphora"))
            if s0.get(f"{key}_rss_kib") is not None] + [
            ["controller (`octolb up`), no LBs", _num(ce.get("rss", 0) / 1024, 1),
             _num(ce.get("pss", 0) / 1024, 1)]])
    if steps:
        out += ["", f"Load balancers on one machine ({d['settings']['lb_shape']}; created in "
                "steps: LBs, listeners, pools and members each in a parallel phase; "
                "after each step one request to every VIP, then a few "
                "seconds of idle CPU):", ""]
        rows = [[_num(s["load_balancers"]), _num(s["create_s"], 0), _num(s["seconds_per_lb"], 2),
                 f"{s['served']}/{s['load_balancers']}",
                 _num(s["controller_memory_kib"].get("rss", 0) / 1024, 0),
                 _num(s["controller_cpu_pct"], 0), _num(s["amphorae_cpu_pct"], 0),
                 _num(s["amphora_pss_kib"] / 1024 if s.get("amphora_pss_kib") else None, 1),
                 _num(s["all_amphorae_pss_mib"], 0), _num(s["mem_available_mib"], 0),
                 _num(s["tasks_on_machine"]), _num(s["loadavg"], 1),
                 _num(s.get("machine_cpu_busy_pct"), 0)] for s in steps]
        out += _table(["LBs", "step s", "s per LB", "served", "controller RSS MiB",
                       "controller idle CPU %", "amphorae idle CPU %",
                       "PSS per amphora MiB", "all amphorae PSS MiB", "MemAvailable MiB",
                       "tasks", "load", "machine CPU % during the step"], rows)
    fails = [(s["load_balancers"], s.get("diagnostics", {}).get("failovers_started"))
             for s in steps if s.get("diagnostics", {}).get("failovers_started")]
    if fails:
        out += ["", "Failovers the health manager started while the machine held the LBs "
                "(octolb.log, cumulative): " + ", ".join(f"{n} at {lbs} LBs"
                                                        for lbs, n in fails) + "."]
    af = d.get("at_failure")
    if af:
        out += ["", f"When creation failed: {af['load_balancers_created']} LBs complete, "
                f"{af.get('served', '–')} of them answered a request (0.5 s timeout), "
                f"controller CPU {_num(af.get('controller_cpu_pct'), 0)}% of a core, "
                f"amphorae {_num(af.get('amphorae_cpu_pct'), 0)}%; octolb.log counts: "
                + ", ".join(f"{k} {af.get(k)}" for k in ("failovers_started",
                            "failover_circuit_breaks", "reconcile_failures",
                            "reconcile_crashes", "heartbeats_not_processed",
                            "database_locked", "database_busy_retries",
                            "database_busy_503") if k in af) +
                f"; LBs by status {af.get('load_balancer_by_status')}, amphorae by status "
                f"{af.get('amphora_by_status')}."]
    out += ["", f"**Largest step with every LB serving: {d['largest_served']}.** Stopped by: "
            f"{d['stop_reason']}. `octolb down` of {d['teardown_s']['amphorae']} amphorae took "
            f"{_num(d['teardown_s']['seconds'], 0)} s."]
    return out


SECTIONS = [("Data plane", "dataplane", dataplane), ("Reconfiguration", "reconfig", reconfig),
            ("Control plane", "controlplane", controlplane),
            ("API latency with many load balancers", "apilatency", apilatency),
            ("Failover", "failover", failover), ("Scale and cost", "scale", scale)]


def headline(r: dict) -> list[str]:
    out = []
    dp = r["sections"].get("dataplane", {}).get("summary")
    if dp:
        for name, label in (("octolb_http", "octolb HTTP"),
                            ("octolb_tls", "octolb TLS-terminated"),
                            ("haproxy_octavia", "HAProxy with Octavia's configuration"),
                            ("nginx", "nginx")):
            s = dp.get(name)
            if s:
                out.append(f"- {label}: {ratio(s['rps_vs_direct'])} of direct req/s, "
                           f"{mm(s['proxy_cpu_us'], 1)} µs CPU per request")
    rc = r["sections"].get("reconfig", {})
    if rc.get("post_delete"):
        out.append(f"- {rc['post_delete']['failed']} failed requests in "
                   f"{rc['post_delete']['changes']} member changes under load; new member "
                   f"serves {mm(rc['first_serve']['api_call_to_first_request_s'], 2, ' s')} "
                   "after the API call")
    cp = r["sections"].get("controlplane", {})
    if cp.get("create_to_active"):
        out.append(f"- LB create → ACTIVE {mm(cp['create_to_active']['seconds'], 2, ' s')}; "
                   f"quick-start → traffic {mm(cp['quickstart_api']['seconds'], 1, ' s')}")
    fo = r["sections"].get("failover", {})
    for key, label in (("defaults", "octolb's defaults"),
                       ("spare", "octolb's defaults and a spare amphora")):
        gaps = [run.get("gap_s") for run in (fo.get(key) or {}).get("runs", [])
                if run.get("killed") == "amphora"]
        if gaps:
            shown = ", ".join("not recovered" if g is None else f"{g:.2f} s" for g in gaps)
            out.append(f"- amphora killed → first successful request, with {label}: {shown}")
    sc = r["sections"].get("scale", {})
    for key, p in (sc.get("passes") or {"": sc}).items():
        if "largest_served" in p:
            label = {"defaults": " with octolb's default heartbeat settings",
                     "octavia_timeout": " with Octavia's 60 s heartbeat_timeout"}.get(key, "")
            out.append(f"- {p['largest_served']} load balancers served on this machine{label}"
                       f" (stopped by: {p['stop_reason'].split(': ', 1)[0]}; the Scale "
                       "section has the details)")
    return out


def render(r: dict, name: str, quick_newer: tuple[dict, str] | None) -> str:
    out = ["# octolb benchmarks", "",
           f"Generated by `bench/report.py` from `bench/results/{name}` "
           f"({r['mode']} run, `{r['command']}`, {r['elapsed_s'] / 60:.1f} min). "
           "Do not edit by hand: run the benchmark again. Everything runs on one machine, "
           "on 127.0.0.0/8; absolute numbers are noisy, ratios and CPU per request carry over.",
           ""]
    if r["mode"] != "full":
        out += ["**This is a quick run; no full run is recorded yet.**", ""]
    if r.get("interrupted"):
        out += [f"**The run was interrupted ({r['interrupted']}).**", ""]
    out += ["## Headline", ""] + headline(r) + [""]
    out += ["## Machine", ""] + machine(r["machine"]) + [""]
    out += ["## How to reproduce", "", "```sh",
            "make bench        # full run, < 30 min; installs wrk and nginx when missing",
            "make bench-quick  # ~2-minute subset",
            ".venv/bin/python -m bench --only dataplane,failover   # some sections",
            "```", "",
            "Raw results: `bench/results/<timestamp>-<mode>.json`. Every process a run "
            "starts (octolb, its amphorae via `octolb down`, nginx, HAProxy, wrk) is stopped "
            "by PID when its section ends.", ""]
    for title, key, fn in SECTIONS:
        d = r["sections"].get(key)
        if d is None:
            continue
        busy = (f"; the whole machine was {d['machine_busy_pct']}% busy (both cores, this "
                "run and anything else), load average "
                f"{d['loadavg_start_end'][0]} → {d['loadavg_start_end'][1]}"
                if "machine_busy_pct" in d else "")
        out += [f"## {title}", ""] + fn(d) + ["", f"*Section time: {d.get('elapsed_s')} s"
                                              f"{busy}.*", ""]
    out += ["## Not measured yet", ""]
    tls = r["sections"].get("controlplane", {}).get("tls_listener_probe")
    tls_measured = "octolb_tls" in (r["sections"].get("dataplane", {}).get("summary") or {})
    out += [f"- **{what}**: not measured yet: {why}"
            for what, why in not_measured(r.get("capabilities", {}), tls, tls_measured)] + [""]
    if quick_newer:
        q, qname = quick_newer
        out += [f"## Latest quick run ({q['machine']['date_utc']}, `bench/results/{qname}`)",
                "", "A smaller, shorter run; the tables above are the full run's.", ""]
        out += headline(q) + [""]
    return "\n".join(out).rstrip() + "\n"


def write(doc: Path, results: Path) -> Path:
    runs = sorted(results.glob("*.json"))
    full = [p for p in runs if p.stem.endswith("-full")]
    main = full[-1] if full else runs[-1]
    r = json.loads(main.read_text())
    quick_newer = None
    quick = [p for p in runs if p.stem.endswith("-quick") and p.name > main.name]
    if quick and main in full:
        quick_newer = (json.loads(quick[-1].read_text()), quick[-1].name)
    doc.write_text(render(r, main.name, quick_newer))
    return doc


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print(write(root / "docs" / "benchmarks.md", root / "bench" / "results"))

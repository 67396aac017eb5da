"""Control plane: LB create -> ACTIVE, LB delete -> gone, and the Octavia quick-start
sequence (LB, listener, pool, health monitor, 2 members) -> first successful request, over
the REST API and, once in the full run, with the stock `openstack` CLI as written."""

from __future__ import annotations

import os
import subprocess
import time

import httpx

from . import capabilities
from .api import Api, ApiError
from .octolb_proc import BIN
from .stats import summary
from .workspace import Workspace


def create_to_active(api: Api, n: int) -> tuple[dict, list[str]]:
    times, ids = [], []
    for i in range(n):
        t0 = time.monotonic()
        lb = api.create_lb(f"cp-{i}")
        api.wait_active(lb["id"])
        times.append(time.monotonic() - t0)
        ids.append(lb["id"])
    return {"n": n, "seconds": summary(times), "all": times}, ids


def burst(api: Api, n: int, log) -> tuple[dict, list[str]]:
    """n creates at once (as a Terraform apply or a Kubernetes cluster start does), each
    LB's time to ACTIVE, and how many reconciles crashed meanwhile (from the octolb log)."""
    log_start = log.stat().st_size
    t0 = time.monotonic()
    lbs = [api.create_lb(f"burst-{i}")["id"] for i in range(n)]
    done: dict[str, float] = {}
    while len(done) < n and time.monotonic() - t0 < 180:
        for lb_id in lbs:
            if lb_id not in done and api.lb(lb_id)["provisioning_status"] in ("ACTIVE", "ERROR"):
                done[lb_id] = time.monotonic() - t0
        time.sleep(api.poll)
    text = log.read_bytes()[log_start:].decode(errors="replace")
    return {"n": n, "all_active_s": max(done.values()) if len(done) == n else None,
            "seconds": summary(list(done.values())), "not_active_after_180s": n - len(done),
            "reconcile_crashes_logged": text.count("crashed"),
            "crash_kinds": sorted({line.split(": ", 1)[-1].strip() for line in
                                   text.splitlines() if "IntegrityError" in line})[:3]}, lbs


def delete_to_gone(api: Api, ids: list[str]) -> dict:
    times = []
    for lb_id in ids:
        t0 = time.monotonic()
        api.delete_lb(lb_id)
        while api.http.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code != 404:
            if time.monotonic() - t0 > 60:
                raise ApiError(f"load balancer {lb_id} not deleted after 60 s")
            time.sleep(api.poll)
        times.append(time.monotonic() - t0)
    return {"n": len(ids), "seconds": summary(times)}


def first_ok(url: str, t0: float, timeout: float = 30) -> float:
    with httpx.Client(timeout=1) as c:
        while time.monotonic() - t0 < timeout + 300:
            try:
                if c.get(url).status_code == 200:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise TimeoutError(f"{url} never answered 200")


def quickstart_api(api: Api, members, n: int) -> dict:
    totals, steps_all = [], []
    for i in range(n):
        steps = {}
        t0 = time.monotonic()
        lb = api.create_lb(f"qs-{i}")
        api.wait_active(lb["id"])
        steps["loadbalancer"] = time.monotonic() - t0
        t = time.monotonic()
        lis = api.create_listener(lb["id"], "HTTP", 80)
        steps["listener"] = time.monotonic() - t
        t = time.monotonic()
        pool = api.create_pool(lb["id"], lis["id"], "HTTP")
        steps["pool"] = time.monotonic() - t
        t = time.monotonic()
        api.create_hm(lb["id"], pool["id"], "HTTP", delay=2, timeout=1, retries=2)
        steps["healthmonitor"] = time.monotonic() - t
        for j, m in enumerate(members):
            t = time.monotonic()
            api.create_member(lb["id"], pool["id"], *m.addr)
            steps[f"member{j + 1}"] = time.monotonic() - t
        t = time.monotonic()
        done = first_ok(f"http://{lb['vip_address']}:80/", t0)
        steps["first_request"] = done - t
        totals.append(done - t0)
        steps_all.append(steps)
    return {"n": n, "seconds": summary(totals),
            "steps_median_s": {k: summary([s[k] for s in steps_all])["median"]
                               for k in steps_all[0]}}


def quickstart_cli(state_dir, members) -> dict:
    """The README's sequence with the stock CLI and --wait, timed end to end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(state_dir / "clouds.yaml")
    cli = [str(BIN / "openstack"), "--os-cloud", "octolb", "loadbalancer"]

    def os_(*args: str) -> str:
        r = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise ApiError(f"openstack loadbalancer {' '.join(args)}: {r.stderr[-500:]}")
        return r.stdout.strip()

    t0 = time.monotonic()
    os_("create", "--name", "cli-lb", "--vip-subnet-id", "private-subnet", "--wait")
    os_("listener", "create", "--name", "cli-listener", "--protocol", "HTTP",
        "--protocol-port", "80", "--wait", "cli-lb")
    os_("pool", "create", "--name", "cli-pool", "--lb-algorithm", "ROUND_ROBIN", "--listener",
        "cli-listener", "--protocol", "HTTP", "--wait")
    os_("healthmonitor", "create", "--delay", "2", "--max-retries", "2", "--timeout", "1",
        "--type", "HTTP", "--url-path", "/", "--wait", "cli-pool")
    for m in members:
        os_("member", "create", "--subnet-id", "private-subnet", "--address", m.host,
            "--protocol-port", str(m.port), "--wait", "cli-pool")
    vip = os_("show", "cli-lb", "-f", "value", "-c", "vip_address")
    done = first_ok(f"http://{vip}:80/", t0)
    t = time.monotonic()
    os_("list", "-f", "value", "-c", "id")  # one cheap call: the CLI's own start-up cost
    return {"seconds": done - t0, "commands": 7, "cli_list_seconds": time.monotonic() - t}


def run(ws: Workspace) -> dict:
    n_create, n_qs, n_burst = (5, 2, 5) if ws.quick else (20, 5, 10)
    members = ws.members(["a", "b"])
    o = ws.octolb("octolb-controlplane")
    api = Api(o.url, poll=0.02)
    ws.stack.callback(api.close)
    out = {"settings": {"create_samples": n_create, "quickstart_samples": n_qs,
                        "burst": n_burst,
                        "poll_interval_s": api.poll, "octolb_settings": o.settings}}
    ws.log(f"control plane: {n_create} x LB create -> ACTIVE")
    out["create_to_active"], ids = create_to_active(api, n_create)
    out["tls_listener_probe"] = capabilities.tls_listener(api, ids[0])
    api.wait_active(ids[0])
    out["delete_to_gone"] = delete_to_gone(api, ids)
    ws.log(f"control plane: {n_burst} LB creates at once -> all ACTIVE")
    out["burst_create"], ids = burst(api, n_burst, o.log)
    delete_to_gone(api, ids)
    ws.log(f"control plane: {n_qs} x quick-start sequence (API) -> first request")
    out["quickstart_api"] = quickstart_api(api, members, n_qs)
    if not ws.quick:
        ws.log("control plane: quick-start with the stock openstack CLI")
        out["quickstart_cli"] = quickstart_cli(o.state_dir, members)
    return out

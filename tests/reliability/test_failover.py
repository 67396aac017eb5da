"""Self-healing with real processes: a broken amphora is replaced (or its HAProxy restarted),
traffic to the VIP comes back, the LB returns to ACTIVE/ONLINE, nothing is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys

import httpx
import pytest

from tests.harness import Backend, Octolb, alive, pids_of_amphora, wait_until

RECOVERY = 30  # seconds; generous on a loaded machine (the speed is a benchmark's business)


@pytest.fixture
def backend():
    b = Backend("member").start()
    yield b
    b.stop()


def start_octolb(path, extra_conf: str = "") -> Octolb:
    return Octolb(path, extra_conf=extra_conf).start()


@pytest.fixture
def octolb(tmp_path):
    o = start_octolb(tmp_path / "state")
    yield o
    o.close()


def serves(vip: str) -> bool:
    try:
        return httpx.get(f"http://{vip}/", timeout=1).text == "member"
    except httpx.HTTPError:
        return False


def agent_pid(o: Octolb, amp_id: str) -> int:
    return int((o.state_dir / "amphorae" / amp_id / "agent.pid").read_text())


def haproxy_pids(o: Octolb, amp_id: str) -> list[int]:
    """Master and workers of the amphora's HAProxy (found by command line)."""
    needle = str(o.state_dir / "amphorae" / amp_id).encode()
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                args = open(f"/proc/{name}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"haproxy") and any(needle in a for a in args):
                out.append(int(name))
    return [p for p in out if alive(p)]


def replaced(o: Octolb, lb_id: str, old_amp: str) -> dict | None:
    """The settled end state: one new ALLOCATED amphora, the LB ACTIVE/ONLINE (read between
    two identical amphora lists, so the three reads describe one moment)."""
    amps = o.amphorae(lb_id)
    lb = o.lb(lb_id)
    if (len(amps) == 1 and amps[0]["id"] != old_amp and amps[0]["status"] == "ALLOCATED"
            and lb["provisioning_status"] == "ACTIVE" and lb["operating_status"] == "ONLINE"
            and o.amphorae(lb_id) == amps):
        return amps[0]
    return None


def assert_replaced_and_clean(o: Octolb, lb_id: str, vip: str, old: dict, old_pids):
    new = wait_until(lambda: replaced(o, lb_id, old["id"]), RECOVERY,
                     what="a new amphora, LB ACTIVE/ONLINE")
    wait_until(lambda: serves(vip), RECOVERY, what="traffic back on the VIP")
    assert new["status"] == "ALLOCATED"
    wait_until(lambda: not any(alive(p) for p in old_pids), 10, what="old processes gone")
    assert not (o.state_dir / "amphorae" / old["id"]).exists()
    assert sorted(os.listdir(o.state_dir / "amphorae")) == [new["id"]]


@pytest.mark.parametrize("how", ["kill -9 agent", "SIGSTOP agent", "rm -rf amphora dir"])
def test_broken_amphora_is_replaced(octolb, backend, how):
    lb_id, vip = octolb.http_lb(backend)
    old = octolb.amphorae(lb_id)[0]
    pids = pids_of_amphora(octolb.state_dir, old["id"]) + haproxy_pids(octolb, old["id"])
    agent = agent_pid(octolb, old["id"])
    if how == "kill -9 agent":
        os.kill(agent, signal.SIGKILL)
    elif how == "SIGSTOP agent":
        os.kill(agent, signal.SIGSTOP)
    else:
        shutil.rmtree(octolb.state_dir / "amphorae" / old["id"])
    assert_replaced_and_clean(octolb, lb_id, vip, old, pids)
    text = octolb.api("GET", "/metrics").text.splitlines()
    assert 'octolb_failovers_total{result="started"} 1' in text
    assert 'octolb_failovers_total{result="succeeded"} 1' in text


def test_killed_haproxy_is_restarted_in_place(octolb, backend):
    lb_id, vip = octolb.http_lb(backend)
    amp = octolb.amphorae(lb_id)[0]
    before = haproxy_pids(octolb, amp["id"])
    assert before
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: serves(vip), RECOVERY, what="traffic back on the VIP")
    after = haproxy_pids(octolb, amp["id"])
    assert after and not set(after) & set(before)
    # the agent restarted it: same amphora, the LB never left ACTIVE/ONLINE for long
    wait_until(lambda: octolb.lb(lb_id)["operating_status"] == "ONLINE", RECOVERY,
               what="LB ONLINE")
    assert [a["id"] for a in octolb.amphorae(lb_id)] == [amp["id"]]
    assert octolb.lb(lb_id)["provisioning_status"] == "ACTIVE"


def broken_python(tmp_path, failing_start: int):
    """An interpreter for agents that fails on the `failing_start`-th agent start only."""
    counter = tmp_path / "starts"
    wrapper = tmp_path / "python-once-broken"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}\n"
        f'if [ "$n" -eq {failing_start} ]; then echo "injected failure" >&2; exit 1; fi\n'
        f'exec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, counter


def test_a_create_whose_amphora_fails_to_start_is_retried_on_a_fresh_one(tmp_path, backend):
    wrapper, counter = broken_python(tmp_path, failing_start=1)
    o = start_octolb(tmp_path / "state", f"python = {wrapper}\n")
    try:
        lb_id, vip = o.http_lb(backend)  # waits for ACTIVE at each step
        assert serves(vip)
        assert counter.read_text().strip() == "2"  # the failed start and the retry
        assert "attempt 1 failed" in o.log.read_text()
        assert len(o.amphorae(lb_id)) == 1
    finally:
        o.close()


def test_a_failed_failover_is_retried(tmp_path, backend):
    """The interpreter that starts agents fails exactly once, on the first failover attempt
    (the second agent start): the retry after back-off succeeds."""
    wrapper, counter = broken_python(tmp_path, failing_start=2)
    o = start_octolb(tmp_path / "state", f"python = {wrapper}\n")
    try:
        lb_id, vip = o.http_lb(backend)
        old = o.amphorae(lb_id)[0]
        pids = pids_of_amphora(o.state_dir, old["id"]) + haproxy_pids(o, old["id"])
        os.kill(agent_pid(o, old["id"]), signal.SIGKILL)
        assert_replaced_and_clean(o, lb_id, vip, old, pids)
        assert counter.read_text().strip() == "3"  # initial, failed attempt, retry
        log = o.log.read_text()
        assert "failover attempt 1 failed" in log
    finally:
        o.close()


def test_circuit_breaker_stops_mass_failover(tmp_path, backend):
    o = start_octolb(tmp_path / "state", "[health_manager]\nfailover_threshold = 1\n")
    try:
        lb_id, vip = o.http_lb(backend)
        amp = o.amphorae(lb_id)[0]
        agent = agent_pid(o, amp["id"])
        os.kill(agent, signal.SIGSTOP)
        try:
            wait_until(lambda: o.amphorae(lb_id)[0]["status"] == "FAILOVER_STOPPED",
                       RECOVERY, what="amphora FAILOVER_STOPPED")
            assert serves(vip)  # HAProxy kept serving; nothing was torn down
            assert o.amphorae(lb_id)[0]["id"] == amp["id"]
            assert "not failing them over" in o.log.read_text()
        finally:
            os.kill(agent, signal.SIGCONT)
        wait_until(lambda: o.amphorae(lb_id)[0]["status"] == "ALLOCATED", RECOVERY,
                   what="amphora back in service")
        assert o.amphorae(lb_id)[0]["id"] == amp["id"]
    finally:
        o.close()


def test_manual_failover_rolls_onto_a_new_amphora_without_dropping_requests(octolb, backend):
    import threading
    import time

    lb_id, vip = octolb.http_lb(backend)
    old = octolb.amphorae(lb_id)[0]
    results = {"ok": 0, "failed": []}
    stop = threading.Event()

    def client_loop():
        deadline = time.monotonic() + 60  # bounded in time and count
        with httpx.Client(timeout=5) as c:
            while not stop.is_set() and time.monotonic() < deadline and results["ok"] < 20000:
                try:
                    resp = c.get(f"http://{vip}/")
                    if resp.text == "member":
                        results["ok"] += 1
                    else:
                        results["failed"].append(resp.status_code)
                except httpx.HTTPError as exc:
                    results["failed"].append(repr(exc))
                time.sleep(0.005)

    t = threading.Thread(target=client_loop)
    t.start()
    try:
        wait_until(lambda: results["ok"] > 20, 10, what="traffic before the failover")
        octolb.openstack("loadbalancer", "failover", "lb", parse=False)
        new = wait_until(lambda: replaced(octolb, lb_id, old["id"]), RECOVERY,
                         what="the LB on a new amphora")
        before = results["ok"]
        wait_until(lambda: results["ok"] > before + 20, 10, what="traffic after")
    finally:
        stop.set()
        t.join()
    assert results["failed"] == []
    assert new["id"] != old["id"]
    assert not (octolb.state_dir / "amphorae" / old["id"]).exists()


def test_amphora_failover_through_the_cli(octolb, backend):
    lb_id, vip = octolb.http_lb(backend)
    old = octolb.amphorae(lb_id)[0]
    octolb.openstack("loadbalancer", "amphora", "failover", old["id"], parse=False)
    new = wait_until(lambda: replaced(octolb, lb_id, old["id"]), RECOVERY,
                     what="the LB on a new amphora")
    assert serves(vip) and new["id"] != old["id"]
    shown = octolb.openstack("loadbalancer", "amphora", "show", new["id"])
    assert shown["loadbalancer_id"] == lb_id and shown["status"] == "ALLOCATED"


def test_dead_agent_is_replaced_without_waiting_for_silence(tmp_path, backend):
    """The local compute driver watches each agent's pid (pidfd): a killed amphora is failed
    over at once, long before a 120 s heartbeat_timeout would have noticed its silence."""
    o = start_octolb(tmp_path / "state",
                     extra_conf="[health_manager]\nheartbeat_timeout = 120\n")
    try:
        lb_id, vip = o.http_lb(backend)
        old = o.amphorae(lb_id)[0]
        pids = pids_of_amphora(o.state_dir, old["id"]) + haproxy_pids(o, old["id"])
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert_replaced_and_clean(o, lb_id, vip, old, pids)  # bound: RECOVERY, well < 120 s
        assert "its agent exited: failing over" in o.log.read_text()
    finally:
        o.close()

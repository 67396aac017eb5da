"""Member changes through the API reach the real HAProxy through its runtime API, without
a reload: the worker process stays the same, the agent logs each runtime update, traffic
follows at once, and a restarted HAProxy (from the file the agent kept) has the same
servers (50 changes under load: test_member_changes_under_load.py)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from octolb.amphora.agent import process, runtime, stats
from octolb.amphora.agent.haproxy import HAProxyManager, InvalidConfig
from tests.e2e.dataplane import Cloud, HTTPBackend, Stack, answers, http_get
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.harness import wait_until


def start_http(backends: list, *names: str) -> list[HTTPBackend]:
    started = [HTTPBackend(n).start() for n in names]
    backends.extend(started)
    return started


class Amp:
    """The amphora of a stack as files and processes: pids, stats socket, agent log."""

    def __init__(self, cloud: Cloud, st: Stack) -> None:
        amp_id = cloud.o.amphorae(st.lb["id"])[0]["id"]
        self.base = cloud.o.state_dir / "amphorae" / amp_id
        self.lb_id = st.lb["id"]
        self.lb_dir = self.base / self.lb_id
        self.log = self.base / "agent.log"

    def master(self) -> int:
        return int((self.lb_dir / "haproxy.pid").read_text().split()[0])

    def workers(self) -> set[int]:
        return {p for p in process.children(self.master()) if process.is_alive(p)}

    def only_worker(self) -> int:
        """The single worker, once workers of earlier reloads have finished."""
        found = wait_until(lambda: (w := self.workers()) and len(w) == 1 and w, 40,
                           interval=0.1, what="a single HAProxy worker")
        return next(iter(found))

    def runtime_updates(self) -> int:
        text = self.log.read_text(errors="replace")
        return sum(1 for line in text.splitlines()
                   if f"HAProxy of {self.lb_id} updated at runtime" in line)

    def reload_reasons(self) -> list[str]:
        """Why the agent reloaded instead of changing servers at runtime (its log)."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if self.lb_id in line and (
            "needs a reload" in line or "reloading instead" in line)]

    def servers(self) -> dict[str, tuple[str, bool]]:
        """server name -> (weight, in maintenance) as the running HAProxy has them."""
        state = runtime.parse_servers_state(
            stats.query(self.base / f"{self.lb_id}.sock", "show servers state"))
        assert len(state) == 1, state
        rows = next(iter(state.values()))
        return {name: (row["srv_uweight"],
                       bool(int(row["srv_admin_state"]) & runtime.MAINT_BITS))
                for name, row in rows.items()}

    def files_agree(self) -> bool:
        return ((self.lb_dir / "running.cfg").read_bytes()
                == (self.lb_dir / "haproxy.cfg").read_bytes())


def member_path(st: Stack, member_id: str | None = None) -> str:
    path = f"pools/{st.pool['id']}/members"
    return f"{path}/{member_id}" if member_id else path


def delete_member(cloud: Cloud, st: Stack, member_id: str) -> None:
    r = cloud.o.api("DELETE", f"/v2/lbaas/{member_path(st, member_id)}")
    assert r.status_code == 204, r.text
    cloud.wait_active(st.lb["id"])


def test_member_changes_apply_at_runtime_and_survive_a_restart(cloud: Cloud, backends):
    a, b, c = start_http(backends, "a", "b", "c")
    st = cloud.stack([a, b])
    cloud.monitor(st.lb, st.pool, "HTTP")  # dynamic servers get their health checks too
    ma, mb = st.members
    amp = Amp(cloud, st)
    worker = amp.only_worker()
    updates = amp.runtime_updates()
    assert set(answers(st.url, 6)) == {"a", "b"}

    # add: served at once
    mc = cloud.member(st.lb, st.pool, c)
    counts = Counter(answers(st.url, 9))
    assert set(counts) == {"a", "b", "c"} and all(2 <= n <= 4 for n in counts.values()), counts
    # the added server is health-checked: a failing check takes it out
    c.status["/"] = 503
    cloud.wait_member_status(st.pool, mc, "ERROR")
    assert set(answers(st.url, 6)) == {"a", "b"}
    c.status["/"] = 200
    cloud.wait_member_status(st.pool, mc, "ONLINE")

    # weights, drain (weight 0), disable
    cloud.update(st.lb["id"], member_path(st, ma["id"]), "member", {"weight": 3})
    cloud.update(st.lb["id"], member_path(st, mc["id"]), "member", {"weight": 0})
    counts = Counter(answers(st.url, 40))
    assert set(counts) == {"a", "b"} and 28 <= counts["a"] <= 32, counts
    cloud.update(st.lb["id"], member_path(st, mb["id"]), "member", {"admin_state_up": False})
    assert set(answers(st.url, 8)) == {"a"}

    # delete
    delete_member(cloud, st, ma["id"])
    cloud.update(st.lb["id"], member_path(st, mc["id"]), "member", {"weight": 2})
    assert set(answers(st.url, 6)) == {"c"}

    # all of it without a reload: same worker, one runtime update per change, and the
    # running configuration is the file
    assert amp.workers() == {worker}
    assert amp.runtime_updates() == updates + 6
    assert amp.files_agree()
    before = amp.servers()
    assert before == {mb["id"]: ("1", True), mc["id"]: ("2", False)}

    # HAProxy dies; the agent's watchdog starts it again from the file: same servers
    master = amp.master()
    os.kill(master, signal.SIGKILL)
    wait_until(lambda: not process.is_alive(master), 10, what="the old master gone")
    wait_until(lambda: process.is_alive(amp.master()) and amp.master() != master
               and amp.workers(), 20, interval=0.1, what="HAProxy restarted by the agent")
    wait_until(lambda: http_get(st.url, timeout=2)[0] == 200, 20, interval=0.1,
               what="serving again")
    assert amp.servers() == before
    assert set(answers(st.url, 6)) == {"c"}

    # and runtime changes go on after the restart
    restarted_worker = amp.only_worker()
    cloud.update(st.lb["id"], member_path(st, mb["id"]), "member", {"admin_state_up": True})
    assert Counter(answers(st.url, 12)) == {"b": 4, "c": 8}
    assert amp.workers() == {restarted_worker}
    assert amp.runtime_updates() == updates + 7


def test_a_change_haproxy_cannot_make_at_runtime_still_reloads(cloud: Cloud, backends):
    a, b = start_http(backends, "a", "b")
    st = cloud.stack([a, b], pool_kw={"session_persistence": {"type": "HTTP_COOKIE"}})
    amp = Amp(cloud, st)
    worker = amp.only_worker()
    updates = amp.runtime_updates()
    cloud.update(st.lb["id"], member_path(st, st.members[0]["id"]), "member", {"weight": 0})
    assert set(answers(st.url, 4)) == {"b"}
    assert amp.workers() == {worker} and amp.runtime_updates() == updates + 1
    # a dynamic server cannot carry the persistence cookie: this add is a reload
    (c,) = start_http(backends, "c")
    cloud.member(st.lb, st.pool, c)
    assert set(answers(st.url, 6)) == {"b", "c"}
    assert amp.only_worker() != worker
    assert amp.runtime_updates() == updates + 1
    assert amp.files_agree()


# --- the agent alone, with a real HAProxy: the fallbacks ----------------------------------

LB_ID = "5d0c1e7a-0000-4000-8000-00000000b0b0"
AMP_ID = "5d0c1e7a-0000-4000-8000-00000000a0a0"


def config(port: int, servers: list[str]) -> bytes:
    lines = [
        "global", f"    stats socket unix@{LB_ID}.sock mode 0600 level admin",
        "    maxconn 100", "    nbthread 1", "    hard-stop-after 5s",
        "defaults", "    no log", "    timeout connect 5s", "    timeout client 5s",
        "    timeout server 5s",
        f"frontend {LB_ID}", f"    bind 127.0.0.1:{port}", "    mode http",
        "    default_backend pool", "backend pool", "    mode http", "    balance roundrobin",
        *(f"    {line}" for line in servers)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def manager():
    base = Path(tempfile.mkdtemp(prefix="octolb-rt", dir="/tmp"))
    mgr = HAProxyManager(base, "/usr/sbin/haproxy", AMP_ID)
    try:
        yield mgr
    finally:
        mgr.stop_all()
        shutil.rmtree(base, ignore_errors=True)


def workers(mgr: HAProxyManager) -> set[int]:
    return {p for p in process.children(mgr.master_pid(LB_ID)) if process.is_alive(p)}


def test_agent_falls_back_to_a_checked_reload(manager, backends):
    a, b = start_http(backends, "a", "b")
    port = a.port + 1000 if a.port < 60000 else a.port - 1000
    url = f"http://127.0.0.1:{port}"
    one = f"server a {a.host}:{a.port} weight 1"
    manager.install_config(LB_ID, config(port, [one]))
    assert manager.reload(LB_ID) == "started"
    first = wait_until(lambda: workers(manager), 10, what="a worker")

    # a member added: no `haproxy -c`, no reload
    two = [one, f"server b {b.host}:{b.port} weight 1"]
    manager.install_config(LB_ID, config(port, two))
    assert manager.reload(LB_ID).startswith("updated at runtime")
    assert workers(manager) == first
    assert set(answers(url, 4)) == {"a", "b"}

    # a server line HAProxy refuses: the runtime change fails, the reload checks the
    # file, refuses it and puts back the one HAProxy runs
    bad = config(port, [*two, "server c 127.0.0.1:1 weight 1 no-such-keyword"])
    manager.install_config(LB_ID, bad)
    with pytest.raises(InvalidConfig):
        manager.reload(LB_ID)
    assert manager.read_config(LB_ID) == config(port, two)
    assert workers(manager) == first
    with pytest.raises(InvalidConfig):  # and at upload, when nothing tells it is runtime
        manager.install_config(LB_ID, bad.replace(b"mode http\n    default", b"mode http"
                                                  b"\n    option nonsense\n    default"))

    # a file of the LB written after the load (a certificate): only a reload reads it
    (manager.lb_dir(LB_ID) / "listener.pem").write_text("x")
    manager.install_config(LB_ID, config(port, [one]))
    assert manager.reload(LB_ID) == "reloaded"
    assert set(answers(url, 4)) == {"a"}
    # the same file again is an explicit reload, as before
    assert manager.reload(LB_ID) == "reloaded"

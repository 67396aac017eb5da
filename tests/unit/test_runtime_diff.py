"""Which configuration changes the agent makes through HAProxy's runtime API, which ones
need a reload, and the commands it sends: pure functions, on configurations rendered by
the real renderer (a member change in the API is a change of these files)."""

from __future__ import annotations

import copy
import uuid

import pytest

from octolb import constants as c
from octolb.amphora.agent import runtime
from octolb.amphora.render import render_haproxy_config
from octolb.db import models as m

AMP_ID = "0b6b3a2e-6c3e-4c59-9d2e-5f1f8f7d1a01"


def new_id() -> str:
    return str(uuid.uuid4())


def graph(members: int = 2, *, algorithm: str = c.ROUND_ROBIN, persistence: dict | None = None,
          monitor: bool = False) -> m.LoadBalancer:
    lb = m.LoadBalancer(id=new_id(), project_id="p", enabled=True, provisioning_status=c.ACTIVE,
                        operating_status=c.ONLINE, topology=c.TOPOLOGY_SINGLE,
                        vip_address="127.1.0.10")
    listener = m.Listener(id=new_id(), protocol=c.HTTP, protocol_port=80, connection_limit=-1,
                          enabled=True, provisioning_status=c.ACTIVE, insert_headers={})
    lb.listeners.append(listener)
    pool = m.Pool(id=new_id(), protocol=c.HTTP, lb_algorithm=algorithm, enabled=True,
                  provisioning_status=c.ACTIVE, session_persistence=persistence)
    lb.pools.append(pool)
    listener.default_pool = pool
    if monitor:
        pool.health_monitor = m.HealthMonitor(
            id=new_id(), type=c.HM_HTTP, delay=2, timeout=1, rise_threshold=2,
            fall_threshold=3, enabled=True, provisioning_status=c.ACTIVE, http_method="GET",
            url_path="/", expected_codes="200")
    for i in range(members):
        add_member(pool, port=8000 + i)
    return lb


def add_member(pool: m.Pool, port: int, **kw) -> m.Member:
    fields = dict(id=new_id(), ip_address="127.0.0.1", protocol_port=port, weight=1,
                  enabled=True, backup=False, provisioning_status=c.ACTIVE)
    fields.update(kw)
    member = m.Member(**fields)
    pool.members.append(member)
    return member


def render(lb: m.LoadBalancer) -> str:
    return render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/tmp/x")


def pool_of(lb: m.LoadBalancer) -> m.Pool:
    return lb.pools[0]


def changed(lb: m.LoadBalancer, change) -> tuple[str, str]:
    """(before, after) renderings around `change(pool)`."""
    before = render(lb)
    change(pool_of(lb))
    return before, render(lb)


def kinds(ops: list[runtime.Op]) -> list[tuple[str, str]]:
    return [(op.kind, op.server) for op in ops]


# --- what is runtime-capable -----------------------------------------------------------

def test_adding_a_member_is_an_add_server_with_the_rendered_options():
    lb = graph(monitor=True)
    new: list[m.Member] = []
    before, after = changed(lb, lambda p: new.append(
        add_member(p, 9000, weight=7, backup=True, monitor_address="127.0.0.2",
                   monitor_port=9001)))
    ops = runtime.plan(before, after)
    assert kinds(ops) == [("add", new[0].id)]
    backend = f"{pool_of(lb).id}:{lb.listeners[0].id}"
    assert ops[0].backend == backend
    args = ops[0].line.add_arguments()
    assert args.startswith("127.0.0.1:9000 weight 7 check ")
    for option in ("inter 2s", "fastinter 500", "fall 3", "rise 2", "addr 127.0.0.2",
                   "port 9001", "backup"):
        assert option in args
    assert "disabled" not in args


def test_removing_a_member_is_a_delete():
    lb = graph(3)
    gone = pool_of(lb).members[1]
    before, after = changed(lb, lambda p: p.members.remove(gone))
    assert kinds(runtime.plan(before, after)) == [("delete", gone.id)]


def test_weight_drain_and_admin_state_are_set_in_place():
    lb = graph(3)
    a, b, d = pool_of(lb).members

    def change(pool):
        a.weight = 5
        b.weight = 0  # drain
        d.enabled = False
    before, after = changed(lb, change)
    ops = runtime.plan(before, after)
    assert [(op.kind, op.server, op.value) for op in ops] == [
        ("weight", a.id, "5"), ("weight", b.id, "0"), ("state", d.id, "maint")]
    # and back
    d.enabled = True
    ops = runtime.plan(after, render(lb))
    assert [(op.kind, op.server, op.value) for op in ops] == [("state", d.id, "ready")]


@pytest.mark.parametrize("change", [
    pytest.param(lambda a: setattr(a, "backup", True), id="backup"),
    pytest.param(lambda a: setattr(a, "monitor_port", 9999), id="monitor_port"),
    pytest.param(lambda a: setattr(a, "monitor_address", "127.0.0.9"), id="monitor_address"),
])
def test_other_changes_of_a_server_need_a_reload(change):
    # as delete + add they would leave a one-member pool empty for a moment
    lb = graph(1, monitor=True)
    before, after = changed(lb, lambda p: change(p.members[0]))
    with pytest.raises(runtime.NeedsReload, match="more than its weight"):
        runtime.plan(before, after)


def test_order_is_adds_then_updates_then_deletes():
    lb = graph(3)
    a, b, _ = pool_of(lb).members
    new: list[m.Member] = []

    def change(pool):
        pool.members.remove(a)
        b.weight = 3
        new.append(add_member(pool, 9100))
    before, after = changed(lb, change)
    assert kinds(runtime.plan(before, after)) == [
        ("add", new[0].id), ("weight", b.id), ("delete", a.id)]


def test_an_unchanged_file_has_no_operations():
    lb = graph(2, monitor=True)
    text = render(lb)
    assert runtime.plan(text, text) == []


# --- what needs a reload ---------------------------------------------------------------

@pytest.mark.parametrize("change", [
    pytest.param(lambda p: setattr(p, "lb_algorithm", c.LEAST_CONNECTIONS), id="algorithm"),
    pytest.param(lambda p: setattr(p, "health_monitor", None), id="monitor-removed"),
    pytest.param(lambda p: setattr(p, "session_persistence", {"type": c.SOURCE_IP}),
                 id="persistence"),
])
def test_changes_outside_server_lines_need_a_reload(change):
    lb = graph(2, monitor=True)
    before, after = changed(lb, change)
    with pytest.raises(runtime.NeedsReload, match="other than servers"):
        runtime.plan(before, after)


def test_a_monitor_change_needs_a_reload():
    # it changes only the servers' check options, but on every server
    lb = graph(2, monitor=True)
    before, after = changed(lb, lambda p: setattr(p.health_monitor, "delay", 7))
    with pytest.raises(runtime.NeedsReload, match="more than its weight"):
        runtime.plan(before, after)


def test_a_listener_change_needs_a_reload():
    lb = graph(2)
    before = render(lb)
    lb.listeners[0].timeout_client_data = 1234
    with pytest.raises(runtime.NeedsReload):
        runtime.plan(before, render(lb))


def test_http_cookie_pools_add_members_by_reload_but_change_them_at_runtime():
    lb = graph(2, persistence={"type": c.HTTP_COOKIE})
    before, after = changed(lb, lambda p: add_member(p, 9200))
    with pytest.raises(runtime.NeedsReload, match="cookie"):
        runtime.plan(before, after)
    lb = graph(2, persistence={"type": c.HTTP_COOKIE})
    a, b = pool_of(lb).members

    def change(pool):
        a.weight = 0
        pool.members.remove(b)
    before, after = changed(lb, change)
    assert kinds(runtime.plan(before, after)) == [("weight", a.id), ("delete", b.id)]


@pytest.mark.parametrize("change", [
    pytest.param(lambda p: add_member(p, 9300), id="add"),
    pytest.param(lambda p: p.members.pop(), id="delete"),
    pytest.param(lambda p: setattr(p.members[0], "weight", 9), id="weight"),
])
def test_source_ip_pools_use_a_static_algorithm_so_members_change_by_reload(change):
    lb = graph(2, algorithm=c.SOURCE_IP)
    before, after = changed(lb, change)
    with pytest.raises(runtime.NeedsReload, match="dynamic balance"):
        runtime.plan(before, after)


def test_source_ip_pools_still_enable_and_disable_at_runtime():
    lb = graph(2, algorithm=c.SOURCE_IP)
    a = pool_of(lb).members[0]
    before, after = changed(lb, lambda p: setattr(a, "enabled", False))
    assert [(op.kind, op.value) for op in runtime.plan(before, after)] == [("state", "maint")]


def test_a_comment_change_is_not_ignored():
    lb = graph(1)
    text = render(lb)
    with pytest.raises(runtime.NeedsReload):
        runtime.plan(text, text.replace("do not edit", "do edit"))


# --- applying and verifying --------------------------------------------------------------

class FakeHAProxy:
    """Answers like HAProxy 2.6's stats socket for the commands the agent sends."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.sent: list[str] = []
        self.answers = {k: list(v) for k, v in (answers or {}).items()}

    def __call__(self, command: str) -> str:
        self.sent.append(command)
        verb = " ".join(command.split()[:2])
        queue = self.answers.get(verb)
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return {"add server": "New server registered.\n",
                "del server": "Server deleted.\n"}.get(verb, "\n")


def test_apply_sends_the_commands_in_order_and_readies_added_servers():
    lb = graph(2, monitor=True)
    a, b = pool_of(lb).members
    new: list[m.Member] = []

    def change(pool):
        pool.members.remove(a)
        b.weight = 4
        new.append(add_member(pool, 9400))
        new.append(add_member(pool, 9401, enabled=False))
    before, after = changed(lb, change)
    backend = f"{pool_of(lb).id}:{lb.listeners[0].id}"
    fake = FakeHAProxy()
    runtime.apply(fake, runtime.plan(before, after))
    n1, n2 = (f"{backend}/{x.id}" for x in new)
    assert [" ".join(s.split()[:3]) for s in fake.sent] == [
        f"add server {n1}", f"enable health {n1}", f"set server {n1}",
        f"add server {n2}", f"enable health {n2}",  # disabled: stays in maintenance
        f"set server {backend}/{b.id}",
        f"set server {backend}/{a.id}", f"del server {backend}/{a.id}",
    ]
    assert fake.sent[2].endswith("state ready")
    assert fake.sent[5].endswith("weight 4")
    assert fake.sent[6].endswith("state maint")


def test_delete_waits_for_what_is_in_flight():
    lb = graph(2)
    gone = pool_of(lb).members[0]
    before, after = changed(lb, lambda p: p.members.remove(gone))
    busy = "Server still has connections attached to it, cannot remove it.\n"
    fake = FakeHAProxy({"del server": [busy, busy, "Server deleted.\n"]})
    runtime.apply(fake, runtime.plan(before, after))
    assert sum(s.startswith("del server") for s in fake.sent) == 3
    assert not any("shutdown" in s for s in fake.sent)  # sessions are never cut


def test_a_server_kept_by_connections_is_left_in_maintenance_and_reaped_later():
    lb = graph(2)
    gone = pool_of(lb).members[0]
    before, after = changed(lb, lambda p: p.members.remove(gone))
    backend = f"{pool_of(lb).id}:{lb.listeners[0].id}"
    target = f"{backend}/{gone.id}"
    busy = "Server still has connections attached to it, cannot remove it.\n"
    fake = FakeHAProxy({"del server": [busy]})
    ops = runtime.plan(before, after)
    assert runtime.apply(fake, ops, drain_timeout=0.1) == {target}
    assert f"set server {target} state maint" in fake.sent
    # the file no longer has it; HAProxy still does, in maintenance: that is expected
    state = servers_state(backend, [(gone.id, 1, 1), (pool_of(lb).members[0].id, 0, 1)])
    runtime.verify(lambda _cmd: state, after, ops, frozenset({target}))
    with pytest.raises(runtime.ApplyError, match="still exists"):
        runtime.verify(lambda _cmd: state, after, ops)
    # serving again is not a leftover
    serving = servers_state(backend, [(gone.id, 0, 1), (pool_of(lb).members[0].id, 0, 1)])
    with pytest.raises(runtime.ApplyError, match="still exists"):
        runtime.verify(lambda _cmd: serving, after, ops, frozenset({target}))
    # reaping: still busy, then deleted
    assert runtime.reap(FakeHAProxy({"del server": [busy]}), {target}) == {target}
    assert runtime.reap(FakeHAProxy(), {target}) == set()
    assert runtime.reap(FakeHAProxy({"del server": ["No such server.\n"]}), {target}) == set()


def test_a_refused_command_is_an_error():
    lb = graph(2)
    before, after = changed(lb, lambda p: add_member(p, 9500))
    fake = FakeHAProxy({"add server": ["Backend must use a dynamic load balancing.\n"]})
    with pytest.raises(runtime.ApplyError, match="dynamic load balancing"):
        runtime.apply(fake, runtime.plan(before, after))


STATE_HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
                "srv_uweight srv_iweight srv_time_since_last_change\n")


def servers_state(backend: str, rows: list[tuple[str, int, int]]) -> str:
    return STATE_HEADER + "".join(
        f"3 {backend} {i + 1} {name} 127.0.0.1 2 {admin} {weight} 1 0\n"
        for i, (name, admin, weight) in enumerate(rows))


def test_verify_compares_names_weights_and_maintenance_with_the_file():
    lb = graph(2)
    a, b = pool_of(lb).members
    b.enabled = False
    a.weight = 3
    text = render(lb)
    backend = f"{pool_of(lb).id}:{lb.listeners[0].id}"
    ops = [runtime.Op("weight", backend, a.id, value="3")]
    # 0x04 alone (configured `disabled`, then made ready) serves; 0x01 is maintenance
    good = servers_state(backend, [(a.id, 4, 3), (b.id, 1, 1)])
    runtime.verify(lambda _cmd: good, text, ops)
    for bad, why in [
        (servers_state(backend, [(a.id, 0, 1), (b.id, 1, 1)]), "weight 1 instead of 3"),
        (servers_state(backend, [(a.id, 0, 3), (b.id, 0, 1)]), "out of maintenance"),
        (servers_state(backend, [(a.id, 0, 3)]), "missing"),
        (servers_state(backend, [(a.id, 0, 3), (b.id, 1, 1), ("x", 0, 1)]), "still exists"),
    ]:
        with pytest.raises(runtime.ApplyError, match=why):
            runtime.verify(lambda _cmd, bad=bad: bad, text, ops)


def test_layout_is_independent_of_server_order_but_not_of_other_lines():
    lb = graph(3)
    before = render(lb)
    other = copy.copy(lb)
    assert runtime.layout(before).skeleton == runtime.layout(render(other)).skeleton
    pool_of(lb).members.reverse()
    assert runtime.plan(before, render(lb)) == []

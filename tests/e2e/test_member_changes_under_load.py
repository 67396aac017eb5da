"""50 member changes (add, delete, weight, drain) through the API while a client sends
requests all the time, on new and on kept-alive connections: no request fails, and every
change is made through HAProxy's runtime API (same worker, one runtime update each).
Separate from test_member_changes.py to keep each file's run time near a minute."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx

from tests.e2e.dataplane import Cloud, answers, http_client, http_get
from tests.e2e.dataplane import backends as backends  # noqa: F401 - fixture
from tests.e2e.dataplane import cloud as cloud  # noqa: F401 - fixture
from tests.e2e.test_member_changes import Amp, delete_member, member_path, start_http
from tests.harness import wait_until


def test_fifty_member_changes_under_load_fail_no_request(cloud: Cloud, backends):
    pool_backends = start_http(backends, *(f"m{i}" for i in range(6)))
    st = cloud.stack(pool_backends[:2])
    amp = Amp(cloud, st)
    worker = amp.only_worker()
    updates = amp.runtime_updates()

    done = threading.Event()
    ok = Counter()
    failures: list[str] = []

    def load() -> None:
        """All the time: a request on a new connection, then a few on a kept-alive one."""
        with http_client() as client:
            while not done.is_set():
                try:
                    status, body = http_get(st.url, timeout=10)
                    if status == 200:
                        ok["new"] += 1
                    else:
                        failures.append(f"new connection: HTTP {status} {body[:80]}")
                except OSError as exc:
                    failures.append(f"new connection: {exc!r}")
                for _ in range(3):
                    try:
                        response = client.get(st.url)
                        if response.status_code == 200:
                            ok["keepalive"] += 1
                        else:
                            failures.append(f"keep-alive: HTTP {response.status_code}")
                    except httpx.HTTPError as exc:
                        failures.append(f"keep-alive: {exc!r}")

    rng = random.Random(50)
    members = {m["id"]: {"backend": bk, "weight": 1}
               for m, bk in zip(st.members, pool_backends[:2], strict=True)}
    kinds: Counter[str] = Counter()
    clients = [threading.Thread(target=load)]
    started = time.monotonic()
    for t in clients:
        t.start()
    try:
        for _ in range(50):
            in_pool = {v["backend"].name for v in members.values()}
            spare = [bk for bk in pool_backends if bk.name not in in_pool]
            serving = [mid for mid, v in members.items() if v["weight"] > 0]
            choices = ["weight", "drain"]
            if spare:
                choices.append("add")
            if len(members) > 1:
                choices.append("delete")
            kind = rng.choice(choices)
            if kind == "add":
                bk = rng.choice(spare)
                weight = rng.randint(1, 10)
                m = cloud.member(st.lb, st.pool, bk, weight=weight)
                members[m["id"]] = {"backend": bk, "weight": weight}
            elif kind == "delete":
                # never the last member with a weight: that would be a 503 by design
                candidates = [mid for mid in members if serving != [mid]]
                mid = rng.choice(candidates)
                delete_member(cloud, st, mid)
                del members[mid]
            else:
                candidates = list(members) if kind == "weight" else [
                    mid for mid in members if serving != [mid]]
                if not candidates:
                    kind, candidates = "weight", list(members)
                if kind == "drain":
                    candidates = [mid for mid in candidates if members[mid]["weight"] > 0]
                if not candidates:
                    kind, candidates = "weight", list(members)
                mid = rng.choice(candidates)
                # always a real change (an identical file is an explicit reload)
                weight = rng.choice([w for w in range(1, 11) if w != members[mid]["weight"]]
                                    ) if kind == "weight" else 0
                cloud.update(st.lb["id"], member_path(st, mid), "member", {"weight": weight})
                members[mid]["weight"] = weight
            kinds[kind] += 1
        changes_took = time.monotonic() - started
        before = sum(ok.values())
        wait_until(lambda: sum(ok.values()) >= before + 20, 20, interval=0.05,
                   what="requests after the last change")
    finally:
        done.set()
        for t in clients:
            t.join()

    assert failures == [], failures[:10]
    assert ok["new"] > 50 and ok["keepalive"] > 50, ok
    assert set(kinds) == {"add", "delete", "weight", "drain"}, kinds
    # every change was made at runtime: no reload, no new worker
    assert amp.runtime_updates() == updates + 50, amp.reload_reasons()
    print(f"50 changes in {changes_took:.1f} s under load: {dict(ok)}, {dict(kinds)}")
    assert amp.workers() == {worker}
    assert amp.files_agree()
    # and the running servers are the API's members
    assert amp.servers() == {mid: (str(v["weight"]), False) for mid, v in members.items()}
    serving = {v["backend"].name for v in members.values() if v["weight"] > 0}
    assert set(answers(st.url, 4 * len(serving) * 10)) == serving

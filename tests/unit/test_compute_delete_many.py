"""`octolb down` stops amphorae side by side: the local driver tells every agent to stop
before it waits for any. Shown with stand-in agents that stop cleanly only once all of them
have been told (a barrier): one at a time, each would wait in vain and be killed."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from octolb.compute.local import AGENT_PID, LocalComputeDriver

AGENT = r"""
import os, pathlib, signal, sys, time
amp_dir, n, barrier = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
def term(*_):
    (barrier / amp_dir.name).touch()
    deadline = time.monotonic() + 20
    while len(list(barrier.iterdir())) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    if len(list(barrier.iterdir())) >= n:
        (amp_dir.parent / (amp_dir.name + ".clean")).touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
(amp_dir / "ready").touch()
while True:
    time.sleep(1)
"""


def test_all_agents_are_told_to_stop_before_any_is_waited_for(tmp_path):
    amphorae, barrier = tmp_path / "amphorae", tmp_path / "barrier"
    barrier.mkdir()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    procs = []
    try:
        for amp_id in ids:
            amp_dir = amphorae / amp_id
            amp_dir.mkdir(parents=True)
            proc = subprocess.Popen([sys.executable, "-c", AGENT, str(amp_dir), str(len(ids)),
                                     str(barrier)])
            procs.append(proc)
            (amp_dir / AGENT_PID).write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + 20
        while not all((amphorae / a / "ready").exists() for a in ids):
            assert time.monotonic() < deadline, "stand-in agents did not start"
            time.sleep(0.05)
        driver = LocalComputeDriver(amphorae)
        driver.delete_many(driver.list())
        assert sorted(p.name for p in amphorae.glob("*.clean")) == sorted(
            f"{a}.clean" for a in ids)  # every one stopped by itself, none killed
        assert driver.list() == []
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

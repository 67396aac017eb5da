"""The local compute driver reports an agent's exit through a pidfd, once, and only for the
process its pid file names and whose command line is that amphora's."""

from __future__ import annotations

import queue
import subprocess
import sys
import time

import pytest

from octolb.compute.local import AGENT_PID, LocalComputeDriver

AMP = "0b6f4a4e-6f0a-4b8e-9d43-3c1f2a7d9e01"
OTHER = "1c7f5b5f-7a1b-4c9f-8e54-4d2a3b8e0f12"


def fake_agent(amp_dir) -> subprocess.Popen:
    """A process whose command line names the amphora directory, as the agent's does."""
    amp_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             str(amp_dir)])
    (amp_dir / AGENT_PID).write_text(f"{proc.pid}\n")
    return proc


@pytest.fixture
def watched(tmp_path):
    driver = LocalComputeDriver(tmp_path)
    deaths: queue.Queue[str] = queue.Queue()
    procs: list[subprocess.Popen] = []
    try:
        yield driver, deaths, procs, lambda: driver.watch_deaths(deaths.put)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_exit_is_reported_once(watched, tmp_path):
    driver, deaths, procs, start = watched
    agent = fake_agent(tmp_path / AMP)
    procs.append(agent)
    stop = start()
    try:
        # the other directory's pid file names a process that is not its agent
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        procs.append(stranger)
        (tmp_path / OTHER).mkdir()
        (tmp_path / OTHER / AGENT_PID).write_text(f"{stranger.pid}\n")
        with pytest.raises(queue.Empty):
            deaths.get(timeout=1.5)  # both alive: nothing to report
        stranger.kill()
        stranger.wait()
        agent.kill()
        agent.wait()
        assert deaths.get(timeout=5) == AMP
        with pytest.raises(queue.Empty):
            deaths.get(timeout=2.5)  # neither a second notice nor one for the stranger
    finally:
        stop()


def test_agent_started_after_the_watch_is_watched(watched, tmp_path):
    driver, deaths, procs, start = watched
    stop = start()
    try:
        agent = fake_agent(tmp_path / AMP)
        procs.append(agent)
        driver._built.set()  # what build() does: look now, not at the next rescan
        time.sleep(0.5)
        agent.kill()
        agent.wait()
        assert deaths.get(timeout=5) == AMP
    finally:
        stop()

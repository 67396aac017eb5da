"""The agent's pidfd death watch (process.DeathWatch) with plain processes: an exit is
reported once, an exec in place is not, nor is a process that was forgotten or that is
not the one meant; no pidfd outlives the watch."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from octolb.amphora.agent.process import DeathWatch, cmdline

QUIET = 0.5  # how long "nothing is reported" is watched for


def pidfds() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[pidfd]"
        except OSError:
            pass
    return count


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def watch() -> Iterator[tuple[DeathWatch, queue.Queue]]:
    exits: queue.Queue[tuple[str, int]] = queue.Queue()
    before = pidfds()
    deaths = DeathWatch(lambda key, pid: exits.put((key, pid)))
    deaths.start()
    yield deaths, exits
    deaths.stop()
    assert pidfds() == before


def sleeper(procs: list[subprocess.Popen], code: str = "import time; time.sleep(60)"
            ) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code])
    procs.append(proc)
    return proc


def test_an_exit_is_reported_once_with_its_key_and_pid(watch, procs):
    deaths, exits = watch
    proc = sleeper(procs)
    assert deaths.watch("lb-1", proc.pid, lambda pid: True)
    assert deaths.pid("lb-1") == proc.pid

    proc.kill()  # not reaped yet: a zombie has exited all the same
    assert exits.get(timeout=10) == ("lb-1", proc.pid)
    assert deaths.pid("lb-1") is None
    proc.wait()
    with pytest.raises(queue.Empty):
        exits.get(timeout=QUIET)


def test_a_process_that_executes_itself_again_stays_watched(watch, procs):
    # as an HAProxy master does on every reload (SIGUSR2): same pid, new program
    deaths, exits = watch
    proc = sleeper(procs, "import os, sys, time; time.sleep(0.3); "
                          "os.execv(sys.executable, [sys.executable, '-c', "
                          "'import time; time.sleep(60)'])")
    assert deaths.watch("lb-1", proc.pid, lambda pid: True)
    deadline = time.monotonic() + 10
    while "time.sleep(0.3)" in " ".join(cmdline(proc.pid)):
        assert time.monotonic() < deadline, "the process did not exec"
        time.sleep(0.02)
    with pytest.raises(queue.Empty):
        exits.get(timeout=QUIET)
    assert deaths.pid("lb-1") == proc.pid

    proc.kill()
    assert exits.get(timeout=10) == ("lb-1", proc.pid)


def test_a_forgotten_or_replaced_process_is_not_reported(watch, procs):
    deaths, exits = watch
    first, second, third = sleeper(procs), sleeper(procs), sleeper(procs)
    assert deaths.watch("lb-1", first.pid, lambda pid: True)
    assert deaths.watch("lb-2", second.pid, lambda pid: True)
    deaths.forget("lb-1")
    assert deaths.watch("lb-2", third.pid, lambda pid: True)  # replaces second

    for proc in (first, second):
        proc.kill()
        proc.wait()
    with pytest.raises(queue.Empty):
        exits.get(timeout=QUIET)
    third.kill()
    assert exits.get(timeout=10) == ("lb-2", third.pid)


def test_a_process_that_is_not_the_one_meant_is_not_watched(watch, procs):
    deaths, _exits = watch
    proc = sleeper(procs)
    assert not deaths.watch("lb-1", proc.pid, lambda pid: False)
    assert deaths.pid("lb-1") is None
    proc.kill()
    proc.wait()
    assert not deaths.watch("lb-1", proc.pid, lambda pid: True)  # gone


def test_pidfds_are_closed_without_the_thread_too(procs):
    before = pidfds()
    deaths = DeathWatch(lambda key, pid: None)
    proc = sleeper(procs)
    assert deaths.watch("lb-1", proc.pid, lambda pid: True)
    assert pidfds() == before + 1
    deaths.forget("lb-1")
    assert pidfds() == before

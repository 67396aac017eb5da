"""Flavor capabilities in the rendered configuration, proven on a running HAProxy:
`haproxy_maxconn` is the process's connection ceiling, `haproxy_nbthread` its thread count,
and the open-files clamp leaves room for the extra threads (HAProxy refuses to start
otherwise)."""

from __future__ import annotations

import time

import pytest

from octolb.amphora.render import RenderError, max_conn_for_fds, render_haproxy_config
from tests.unit.test_render import (
    AMP_ID,
    _octavia_defaults_lb,
    base_path,  # noqa: F401 - fixture
    free_port,
    render_checked,
    require_haproxy,
    running_haproxy,
    section,
    stats_command,
)


def info(base: str, lb_id: str) -> dict[str, str]:
    """`show info` of the running HAProxy (its stats socket may need a moment on a busy
    machine)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            out = stats_command(base, lb_id, "show info")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def test_running_haproxy_has_the_flavors_threads_and_maxconn(base_path):  # noqa: F811
    require_haproxy()
    port = free_port()
    lb = _octavia_defaults_lb(port)
    text = render_checked(lb, base_path, max_connections=100, threads=3)
    assert "nbthread 3" in section(text, "global")
    with running_haproxy(text, base_path, port) as proc:
        assert proc.poll() is None, proc.communicate()[0]
        shown = info(base_path, lb.id)
    assert shown["Nbthread"] == "3" and shown["Maxconn"] == "100"


def test_fd_clamp_counts_the_extra_threads(base_path):  # noqa: F811
    require_haproxy()
    nofile = 2000
    port = free_port()
    lb = _octavia_defaults_lb(port)
    text = render_checked(lb, base_path, max_fds=nofile, threads=16)
    assert max_conn_for_fds(nofile, listening_sockets=2, threads=16) < max_conn_for_fds(
        nofile, listening_sockets=2)
    with running_haproxy(text, base_path, port, nofile=nofile) as proc:
        assert proc.poll() is None, f"HAProxy did not start:\n{proc.communicate()[0]}"


@pytest.mark.parametrize("kw", [{"threads": 0}, {"threads": 65}, {"max_connections": 0}])
def test_out_of_range_capability_values_never_reach_the_file(kw):
    lb = _octavia_defaults_lb(80)
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path="/x", **kw)

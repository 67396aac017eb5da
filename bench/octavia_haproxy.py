"""HAProxy with the configuration Octavia renders for the same listener (reference
§9: global/defaults/frontend/backend in Octavia's order and with its defaults), written here
by hand so octolb's renderer is not the thing being compared with itself.

What Octavia does and this keeps: connection logging on (`log global`, the default
`log-format`, sent to a local unix datagram receiver as the amphora's rsyslog), `option
splice-request/-response`, `option http-keep-alive` (no `http-server-close`), `http-reuse safe`,
`maxconn` from `default_connection_limit` (50000) clamped to what the open-file limit allows
(HAProxy needs about 2.5 × maxconn + 30 descriptors with splice; 50000 does not start here),
no `nbthread` (no TuneD profile: HAProxy takes one thread per CPU), the HTTP health monitor
of the quick-start on every server. Runs master-worker in the foreground, as systemd's `-Ws`.
It does not drop privileges (`user nobody`): that changes nothing on the data path.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from .net import wait_port
from .procs import Child, tree

ROOT = Path(__file__).resolve().parent.parent
PROJECT_ID = "e3cd678b11784734bc366148aa37580e"
LOG_FORMAT = ("{project} {lb} %f %ci %cp %t %{{+Q}}r %ST %B %U %[ssl_c_verify] "
              "%{{+Q}}[ssl_c_s_dn] %b %s %Tt %tsc")

TEMPLATE = """\
# Octavia-like rendering (reference amphora-and-controller.md §9) for the benchmark.
global
    log {log} local0
    log {log} local1 notice
    stats socket {dir}/{lb}.sock mode 0666 level user
    server-state-file {dir}/servers-state
    maxconn {maxconn}

defaults
    log global
    retries 3
    option redispatch
    option splice-request
    option splice-response
    option http-keep-alive

frontend {listener}
    maxconn {maxconn}
    bind {host}:{port}
    mode http
    default_backend {pool}:{listener}
    timeout client 50000
    log-format {log_format}

backend {pool}:{listener}
    mode http
    http-reuse safe
    balance roundrobin
    load-server-state-from-file global
    timeout check 2s
    option httpchk GET /
    http-check expect rstatus 200
    fullconn {maxconn}
    option allbackups
    timeout connect 5000
    timeout server 50000
{servers}"""

LB_ID = "0f7d6c2e-8d0a-4a4e-9b1c-5b1e8f3a9c01"
LISTENER_ID = "5a3f1e0d-2b7c-4d9e-8f6a-1c2b3d4e5f60"
POOL_ID = "9c8b7a6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"


def clamped_maxconn(default: int = 50000) -> int:
    """Octavia's default clamped to the descriptors HAProxy can get (2.5 per conn, splice)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return min(default, int((hard - 50) // 2.5))


def render(workdir: Path, host: str, port: int, members: list[tuple[str, int]],
           log_socket: Path) -> str:
    servers = "".join(
        f"    server member{i} {h}:{p} weight 1 check inter 5s fall 3 rise 2\n"
        for i, (h, p) in enumerate(members))
    fmt = LOG_FORMAT.format(project=PROJECT_ID, lb=LB_ID).replace(" ", "\\ ")
    return TEMPLATE.format(log=log_socket, dir=workdir, lb=LB_ID, maxconn=clamped_maxconn(),
                           listener=LISTENER_ID, pool=POOL_ID, host=host, port=port,
                           log_format=fmt, servers=servers)


class OctaviaHAProxy:
    """The reference HAProxy and its log receiver, both our children."""

    def __init__(self, workdir: Path, host: str, port: int, members: list[tuple[str, int]]):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.log_socket = workdir / "log.sock"
        self.count_file = workdir / "log.count"
        self.logsink = Child([sys.executable, "-m", "bench.logsink", str(self.log_socket),
                              str(self.count_file)], log=workdir / "logsink.log", cwd=ROOT)
        self.haproxy: Child | None = None
        try:
            for _ in range(100):
                if self.log_socket.exists():
                    break
                subprocess.run(["sleep", "0.05"], check=False)
            cfg = workdir / "haproxy.cfg"
            cfg.write_text(render(workdir, host, port, members, self.log_socket))
            check = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)],
                                   capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError(f"haproxy -c: {check.stdout}{check.stderr}")
            self.haproxy = Child(["/usr/sbin/haproxy", "-W", "-db", "-f", str(cfg),
                                  "-p", str(workdir / "haproxy.pid")],
                                 log=workdir / "haproxy.log", cwd=workdir)
            wait_port(host, port)
        except BaseException:
            self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return tree(self.haproxy.pid) if self.haproxy else []

    @property
    def logger_pids(self) -> list[int]:
        return [self.logsink.pid] if self.logsink.alive() else []

    def stop(self) -> None:
        try:
            if self.haproxy is not None:
                self.haproxy.stop()
        finally:
            self.logsink.stop()

    def log_count(self) -> int | None:
        try:
            return int(self.count_file.read_text())
        except (OSError, ValueError):
            return None

"""nginx from Debian, started with its own prefix and configuration in a temporary directory
(never the system service): backends answering `return 200`, and a reverse proxy."""

from __future__ import annotations

from pathlib import Path

from .net import wait_port
from .procs import Child, tree

_MAIN = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
{body}
}}
"""

BACKEND = """\
    server {{
        listen {host}:{port} reuseport backlog=4096;
        default_type text/plain;
        location / {{ return 200 "{name}\\n"; }}
    }}
"""

PROXY = """\
    upstream pool {{
{servers}        keepalive 64;
    }}
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


class Nginx:
    """One nginx master (ours, foreground) with `workers` worker processes."""

    def __init__(self, prefix: Path, body: str, host: str, port: int, workers: int = 1):
        self.prefix, self.host, self.port = prefix, host, port
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(
            _MAIN.format(workers=workers, prefix=prefix, body=body))
        self.child = Child(["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"),
                            "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                           log=prefix / "stdout.log")
        wait_port(host, port)

    @property
    def pids(self) -> list[int]:
        return tree(self.child.pid)

    def stop(self) -> None:
        self.child.stop()


def backend(prefix: Path, name: str, host: str, port: int) -> Nginx:
    """A member that answers every path with 200 and its name (one worker)."""
    return Nginx(prefix, BACKEND.format(host=host, port=port, name=name), host, port)


def reverse_proxy(prefix: Path, host: str, port: int, members: list[tuple[str, int]],
                  workers: int = 1) -> Nginx:
    """nginx as a keep-alive reverse proxy to the same pool (round robin, no access log)."""
    servers = "".join(f"        server {h}:{p};\n" for h, p in members)
    return Nginx(prefix, PROXY.format(servers=servers, host=host, port=port), host, port,
                 workers=workers)

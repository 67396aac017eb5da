"""What every section gets: a private directory, a stack of clean-ups that runs even on
failure, progress output, and helpers to start the common pieces (nginx members, octolb)."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import nginx
from .net import free_port, loopback_net
from .octolb_proc import Octolb


@dataclass
class Member:
    name: str
    host: str
    port: int
    server: nginx.Nginx

    @property
    def addr(self) -> tuple[str, int]:
        return self.host, self.port


@dataclass
class Workspace:
    root: Path
    quick: bool
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    started: float = field(default_factory=time.monotonic)

    def dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def log(self, msg: str) -> None:
        print(f"[bench {time.monotonic() - self.started:7.1f}s] {msg}", file=sys.stderr,
              flush=True)

    def members(self, names: list[str]) -> list[Member]:
        """nginx backends answering 200 with their name, one per address of a fresh 127.X/16."""
        net = loopback_net()
        out = []
        for i, name in enumerate(names, start=1):
            host = f"127.{net}.0.{i}"
            port = free_port(host)
            server = nginx.backend(self.dir(f"nginx-{name}"), name, host, port)
            self.stack.callback(server.stop)
            out.append(Member(name, host, port, server))
        return out

    def octolb(self, name: str, settings: dict | None = None) -> Octolb:
        """`octolb up` on its own state directory; stopped (and its amphorae with
        `octolb down`) when the section ends."""
        o = Octolb(self.dir(name) / "state", settings)
        self.stack.callback(o.close)
        return o.start()

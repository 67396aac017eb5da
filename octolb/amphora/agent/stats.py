"""Queries to an HAProxy stats socket (UNIX stream, one command per connection)."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

# sun_path holds 108 bytes including the terminating NUL.
_MAX_UNIX_PATH = 107


def query(socket_path: Path, command: str, timeout: float = 2.0) -> str:
    """Send one command and return HAProxy's whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        _connect(sock, socket_path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def _connect(sock: socket.socket, path: Path) -> None:
    if len(os.fsencode(path)) <= _MAX_UNIX_PATH:
        sock.connect(str(path))
        return
    # Too long for sun_path: reach the socket through a descriptor of its directory.
    dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
    finally:
        os.close(dir_fd)


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of a ``show stat`` answer as dicts keyed by the header's column names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not a 'show stat' answer: {text[:200]!r}")
    return list(csv.DictReader([lines[0][2:], *lines[1:]]))


def show_stat(socket_path: Path) -> list[dict[str, str]]:
    """All proxies, frontends, backends and servers (``show stat -1 -1 -1``)."""
    return parse_csv(query(socket_path, "show stat -1 -1 -1"))

"""A local log receiver, as the amphora's rsyslog is for Octavia's HAProxy: binds a unix
datagram socket, reads and drops every message, and writes how many it got (every 0.25 s
and on SIGTERM).

    python -m bench.logsink <socket path> <count file>
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path


def main(path: str, count_file: str) -> int:
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(path)
    os.chmod(path, 0o666)
    count = 0
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    sock.settimeout(0.2)
    out = Path(count_file)
    written, last = -1, time.monotonic()
    while not stopping:
        try:
            sock.recv(65536)
            count += 1
        except (TimeoutError, InterruptedError):
            pass
        if count != written and time.monotonic() - last > 0.25:
            out.write_text(f"{count}\n")
            written, last = count, time.monotonic()
    out.write_text(f"{count}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

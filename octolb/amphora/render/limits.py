"""How many connections an amphora's HAProxy may take: bounds of the global maxconn and
nbthread, and the clamp that keeps maxconn within the open-files limit (pure arithmetic).

HAProxy refuses to start ("Cannot raise FD limit") when maxconn needs more descriptors than
RLIMIT_NOFILE allows, and `haproxy -c` does not notice; Octavia's default 50000 does not
start on this kind of machine (docs/architecture.md, Rendering).
"""

from __future__ import annotations

from octolb.amphora.render.errors import RenderError

MAX_GLOBAL_MAXCONN = 1_000_000
MAX_THREADS = 64  # HAProxy 2.6 as built by Debian (haproxy -vv: MAX_THREADS=64)
# The API bounds connection_limit only by HAProxy's integer; a frontend never gets more
# than the global maxconn (at most MAX_GLOBAL_MAXCONN), see global_maxconn().
MAX_CONNECTION_LIMIT = 2**31 - 1
# File descriptors HAProxy 2.6 (nbthread 1) needs besides two per connection: measured
# on this machine as 2*maxconn + 24 + one per listening socket, + 1 + 3 per peer when a
# peers section exists. 30 leaves a little room (the reference's "2 x maxconn + 30").
FD_RESERVE = 30


def max_conn_for_fds(max_fds: int, *, listening_sockets: int = 1, peers: int = 0,
                     threads: int = 1) -> int:
    """The largest global maxconn HAProxy 2.6 can start with under `max_fds` open files.

    HAProxy needs about 2 descriptors per connection plus a fixed reserve, one per
    listening socket and, with a peers section, 1 + 3 per peer; if that exceeds the open
    files limit it refuses to start ("Cannot raise FD limit"), and `haproxy -c` does not
    notice. Never above (max_fds - 30) // 2. Each thread past the first takes 3 more
    descriptors (its poller and wake-up pipe; measured with HAProxy 2.6 on this machine).
    """
    reserve = (FD_RESERVE + listening_sockets + (1 + 3 * peers if peers else 0)
               + 3 * (threads - 1))
    return (max_fds - reserve) // 2


def global_maxconn(limits: list[int], *, max_connections: int | None, max_fds: int | None,
                   listening_sockets: int, peers: int, threads: int) -> int:
    """The global maxconn: the sum of the listeners' connection limits (`limits`), at most
    MAX_GLOBAL_MAXCONN and `max_connections` (a flavor's), and clamped to what `max_fds`
    open files allow (None: no clamp)."""
    total = sum(limits)
    maxconn = total if 0 < total < MAX_GLOBAL_MAXCONN else MAX_GLOBAL_MAXCONN
    if max_connections is not None:
        maxconn = min(maxconn, max_connections)
    if max_fds is not None:
        ceiling = max_conn_for_fds(max_fds, listening_sockets=listening_sockets,
                                   peers=peers, threads=threads)
        if ceiling < 1:
            raise RenderError(f"max_fds {max_fds} leaves no room for connections")
        maxconn = min(maxconn, ceiling)
    return maxconn

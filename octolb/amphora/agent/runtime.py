"""Member changes without a reload: apply `server` line changes through the stats socket.

The controller always pushes the whole rendered configuration. When the new file differs
from the one HAProxy runs only in `server` lines of backends, and HAProxy 2.6 can make
each of those changes at runtime, the agent applies them over the stats socket (about
2.5 ms instead of a ~190 ms validated reload), checks the result with
`show servers state`, and keeps the new file, so a restart from the file gives the same
servers. Anything else (or a command HAProxy refuses) is a reload, as before.

What HAProxy 2.6 does at runtime, as measured with the Debian 12 build:

- `set server <b>/<s> weight <n>`: only in backends with a dynamic algorithm
  (roundrobin, leastconn, first); a static one (`balance source`) takes only 0%/100%.
- `set server <b>/<s> state maint|ready`: everywhere (`disabled` in the file is the
  configuration's maintenance, `ready` clears the one set at runtime as well).
- `add server <b>/<s> <addr> <options>`: only in dynamic-algorithm backends, and never
  with `cookie` ("'cookie' option is not accepted for dynamic server"), so an HTTP_COOKIE
  pool gets its new members by a reload. A dynamic server starts in maintenance: it is
  made `ready` (unless the file says `disabled`), after `enable health` when it has
  `check`, and then starts UP, as a server of a freshly loaded file does.
- `del server <b>/<s>`: only in maintenance and without streams or connections, idle
  ones included. The server is put in maintenance (no new request reaches it; HTTP
  keep-alive clients are balanced to the others on their next request) and the delete is
  retried while what is in flight finishes; sessions are never shut down. A file-declared
  server can also keep an idle connection attached to a client's keep-alive session for
  as long as that client stays connected (HAProxy 2.6 does not close idle connections of
  a server put in maintenance). When the delete has not succeeded after `drain_timeout`,
  the server stays in maintenance, out of rotation, as a *leftover*: the agent retries the
  delete in the background (`reap`), `verify` ignores it, and any reload drops it.
- Any other change to an existing server line (backup, check options, monitor address,
  a health monitor's timings on every server) is a reload: as a delete and an add it
  would leave a one-server pool without a server for a moment and drop requests, and
  such changes are rare.

Numeric server ids are not written in the file: a dynamic server takes the first free
id, a restart numbers servers in file order. Nothing in octolb uses the ids (server names
are the member ids; stick tables keep ids, but they are local to the running process
unless a peers section exists, and a reload renumbers them the same way).

The parsing and planning functions are pure; `apply` and `verify` talk to the socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import stats

SECTION_KEYWORDS = frozenset({
    "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
    "userlist", "program", "mailers", "http-errors", "ring", "cache",
})
# Algorithms whose weights HAProxy can change on the fly and that accept dynamic servers.
DYNAMIC_BALANCE = frozenset({"roundrobin", "leastconn", "first"})
# Bits of `srv_admin_state` that keep a server out of rotation: forced (CLI or `disabled`
# in the file, 0x01), inherited from a tracked server (0x02), resolution (0x08). 0x04
# (configured `disabled`) stays set after `state ready` while the server serves.
MAINT_BITS = 0x01 | 0x02 | 0x08
DRAIN_TIMEOUT = 0.5  # seconds a deleted server gets before it is left to `reap`
RETRY_INTERVAL = 0.02


class NeedsReload(Exception):
    """The change cannot be made at runtime; the message says why."""


class ApplyError(Exception):
    """A runtime command failed or its result is not what the file says."""


@dataclass(frozen=True)
class ServerLine:
    """One `server` line: name, address, weight, `disabled`, and the other options."""

    name: str
    address: str
    weight: int
    disabled: bool
    options: tuple[str, ...]

    @property
    def has_check(self) -> bool:
        return "check" in self.options

    @property
    def has_cookie(self) -> bool:
        return "cookie" in self.options

    def add_arguments(self) -> str:
        """The `add server` arguments: address, weight and options; never `disabled`
        (a dynamic server starts in maintenance anyway, see `_add`)."""
        return " ".join([self.address, "weight", str(self.weight), *self.options])


@dataclass(frozen=True)
class Layout:
    """A configuration split into everything but `server` lines, and those lines."""

    skeleton: tuple[str, ...]
    servers: dict[str, dict[str, ServerLine]]  # backend -> server name -> line
    balance: dict[str, str]  # backend -> first word of its `balance`


@dataclass(frozen=True)
class Op:
    """One runtime change: kind is "add", "delete", "weight" or "state"."""

    kind: str
    backend: str
    server: str
    line: ServerLine | None = None  # add: the new line
    value: str = ""  # weight: the number; state: "maint" or "ready"


# --- pure parsing and planning -----------------------------------------------------------

def parse_server(words: list[str]) -> ServerLine:
    """A `server <name> <address> [options]` line split into words."""
    if len(words) < 3 or words[0] != "server":
        raise NeedsReload(f"unexpected server line {' '.join(words)!r}")
    weight = 1
    disabled = False
    options: list[str] = []
    rest = words[3:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "weight" and i + 1 < len(rest):
            try:
                weight = int(rest[i + 1])
            except ValueError:
                raise NeedsReload(f"server {words[1]}: weight {rest[i + 1]!r}") from None
            i += 2
            continue
        if word == "disabled":
            disabled = True
        elif word == "enabled":
            disabled = False
        else:
            options.append(word)
        i += 1
    return ServerLine(words[1], words[2], weight, disabled, tuple(options))


def layout(text: str) -> Layout:
    """Split a configuration text; comments are kept in the skeleton (compared verbatim)."""
    skeleton: list[str] = []
    servers: dict[str, dict[str, ServerLine]] = {}
    balance: dict[str, str] = {}
    section: tuple[str, str] = ("", "")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        words = line.split()
        if words[0] in SECTION_KEYWORDS:
            section = (words[0], words[1] if len(words) > 1 else "")
            if section[0] == "backend":
                servers.setdefault(section[1], {})
        elif words[0] == "server" and section[0] == "backend":
            server = parse_server(words)
            if server.name in servers[section[1]]:
                raise NeedsReload(f"backend {section[1]}: server {server.name} twice")
            servers[section[1]][server.name] = server
            continue
        elif words[0] == "balance" and section[0] == "backend" and len(words) > 1:
            balance[section[1]] = words[1]
        skeleton.append(line)
    return Layout(tuple(skeleton), servers, balance)


def plan(running: str, new: str) -> list[Op]:
    """The runtime commands that turn the running configuration into `new`.

    Raises NeedsReload when anything else changed or a change is not runtime-capable.
    An empty list means no server differs.
    """
    old_layout, new_layout = layout(running), layout(new)
    if old_layout.skeleton != new_layout.skeleton:
        raise NeedsReload("lines other than servers changed")
    adds: list[Op] = []
    updates: list[Op] = []
    deletes: list[Op] = []
    for backend, new_servers in new_layout.servers.items():
        old_servers = old_layout.servers.get(backend, {})
        dynamic = new_layout.balance.get(backend, "roundrobin") in DYNAMIC_BALANCE
        where = f"backend {backend}"

        def need_dynamic(what: str, where: str = where, dynamic: bool = dynamic) -> None:
            if not dynamic:
                raise NeedsReload(f"{where}: {what} needs a dynamic balance algorithm")

        for name in old_servers:
            if name not in new_servers:
                need_dynamic(f"deleting server {name}")
                deletes.append(Op("delete", backend, name))
        for name, line in new_servers.items():
            old = old_servers.get(name)
            if old == line:
                continue
            if old is None:
                need_dynamic(f"adding server {name}")
                if line.has_cookie:
                    raise NeedsReload(f"{where}: server {name} has a cookie, which HAProxy "
                                      f"2.6 does not accept for a dynamic server")
                adds.append(Op("add", backend, name, line=line))
                continue
            if (old.address, old.options) != (line.address, line.options):
                raise NeedsReload(f"{where}: server {name} changed more than its weight "
                                  f"and state")
            if old.weight != line.weight:
                need_dynamic(f"changing the weight of server {name}")
                updates.append(Op("weight", backend, name, value=str(line.weight)))
            if old.disabled != line.disabled:
                updates.append(Op("state", backend, name,
                                  value="maint" if line.disabled else "ready"))
    # New capacity first, old capacity last: traffic always has somewhere to go.
    return adds + updates + deletes


def expected_servers(text: str, backends: set[str]) -> dict[str, dict[str, ServerLine]]:
    """The servers the file declares in these backends."""
    servers = layout(text).servers
    return {b: servers.get(b, {}) for b in backends}


def parse_servers_state(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """`show servers state` as backend -> server -> {column: value}."""
    lines = [line for line in text.splitlines() if line.strip()]
    header: list[str] | None = None
    result: dict[str, dict[str, dict[str, str]]] = {}
    for line in lines:
        if line.startswith("# "):
            header = line[2:].split()
            continue
        if header is None:
            continue  # the format version line
        row = dict(zip(header, line.split(), strict=False))
        if "be_name" in row and "srv_name" in row:
            result.setdefault(row["be_name"], {})[row["srv_name"]] = row
    if header is None:
        raise ApplyError(f"not a 'show servers state' answer: {text[:200]!r}")
    return result


def check_state(state: dict[str, dict[str, dict[str, str]]],
                expected: dict[str, dict[str, ServerLine]],
                leftovers: frozenset[str] = frozenset()) -> list[str]:
    """Differences between HAProxy's servers and the file's (empty: they agree).
    `leftovers` ("backend/server") may still exist, in maintenance."""
    problems = []
    for backend, servers in expected.items():
        have = state.get(backend, {})
        for name in sorted(set(have) - set(servers)):
            in_maint = bool(int(have[name].get("srv_admin_state", "0")) & MAINT_BITS)
            if f"{backend}/{name}" not in leftovers or not in_maint:
                problems.append(f"{backend}/{name} still exists")
        for name, line in servers.items():
            row = have.get(name)
            if row is None:
                problems.append(f"{backend}/{name} is missing")
                continue
            if row.get("srv_uweight") != str(line.weight):
                problems.append(f"{backend}/{name} weight {row.get('srv_uweight')} "
                                f"instead of {line.weight}")
            in_maint = bool(int(row.get("srv_admin_state", "0")) & MAINT_BITS)
            if in_maint != line.disabled:
                problems.append(f"{backend}/{name} {'in' if in_maint else 'out of'} "
                                f"maintenance")
    return problems


# --- talking to HAProxy -------------------------------------------------------------------

Query = Callable[[str], str]


def socket_query(socket_path: Path) -> Query:
    return lambda command: stats.query(socket_path, command)


def apply(query: Query, ops: list[Op], drain_timeout: float = DRAIN_TIMEOUT) -> set[str]:
    """Run the commands of `ops` in order; raises ApplyError at the first refusal.

    Returns the leftovers: deleted servers ("backend/server") that still had connections
    after `drain_timeout`; they are in maintenance, for `reap` to delete later.
    """
    deadline = time.monotonic() + drain_timeout
    leftovers: set[str] = set()
    for op in ops:
        target = f"{op.backend}/{op.server}"
        if op.kind == "add":
            assert op.line is not None
            _add(query, target, op.line)
        elif op.kind == "delete":
            if not _delete(query, target, deadline):
                leftovers.add(target)
        elif op.kind == "weight":
            _expect_silence(query, f"set server {target} weight {op.value}")
        elif op.kind == "state":
            _expect_silence(query, f"set server {target} state {op.value}")
        else:
            raise ApplyError(f"unknown operation {op.kind}")
    return leftovers


def reap(query: Query, leftovers: set[str]) -> set[str]:
    """Try to delete leftover servers again; returns those still there."""
    remaining = set()
    for target in sorted(leftovers):
        answer = query(f"del server {target}").strip()
        if "still has connections" in answer:
            remaining.add(target)
        # deleted, or gone already ("No such server."): either way not ours any more
    return remaining


def verify(query: Query, new_text: str, ops: list[Op],
           leftovers: frozenset[str] = frozenset()) -> None:
    """Compare `show servers state` of the touched backends with the file."""
    backends = {op.backend for op in ops}
    state = parse_servers_state(query("show servers state"))
    problems = check_state(state, expected_servers(new_text, backends), leftovers)
    if problems:
        raise ApplyError("HAProxy's servers differ from the file: " + "; ".join(problems))


def _add(query: Query, target: str, line: ServerLine) -> None:
    answer = query(f"add server {target} {line.add_arguments()}").strip()
    if answer != "New server registered.":
        raise ApplyError(f"add server {target}: {answer}")
    if line.has_check:
        _expect_silence(query, f"enable health {target}")
    if not line.disabled:
        _expect_silence(query, f"set server {target} state ready")


def _delete(query: Query, target: str, deadline: float) -> bool:
    """Maintenance, then delete; False when connections kept it past the deadline."""
    _expect_silence(query, f"set server {target} state maint")
    while True:
        answer = query(f"del server {target}").strip()
        if answer == "Server deleted.":
            return True
        if "still has connections" not in answer:
            raise ApplyError(f"del server {target}: {answer}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(RETRY_INTERVAL)


def _expect_silence(query: Query, command: str) -> None:
    """Commands that answer nothing when they succeed."""
    answer = query(command).strip()
    if answer:
        raise ApplyError(f"{command}: {answer}")

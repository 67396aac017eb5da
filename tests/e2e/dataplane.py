"""Shared pieces of the data-plane tests: one `octolb up` per test module, API helpers that
create an object and wait until the load balancer has converged, and real local backends
that record what reached them (HTTP, TLS, raw TCP, PROXY protocol).

Every backend listens on 127.0.0.1 (or another 127/8 address) on a free port and is
stopped by the fixture that started it; every client talks only to 127.0.0.0/8.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness import Octolb, free_port, wait_until

HEARTBEAT = 1  # seconds between amphora heartbeats in these tests
STATUS_WAIT = 20  # deadline for an operating status to follow a change, seconds


# --- octolb and the API ------------------------------------------------------------------

class Cloud:
    """One `octolb up` and small API helpers: each create/update waits for ACTIVE."""

    def __init__(self, octolb: Octolb) -> None:
        self.o = octolb
        self.subnet_id = octolb.api("GET", "/network/v2.0/subnets?name=private-subnet").json()[
            "subnets"][0]["id"]

    # -- raw calls --
    def post(self, path: str, key: str, body: dict) -> httpx.Response:
        return self.o.api("POST", f"/v2/lbaas/{path}", json={key: body})

    def put(self, path: str, key: str, body: dict) -> httpx.Response:
        return self.o.api("PUT", f"/v2/lbaas/{path}", json={key: body})

    def get(self, path: str) -> dict:
        r = self.o.api("GET", f"/v2/lbaas/{path}")
        assert r.status_code == 200, r.text
        return r.json()

    # -- create and converge --
    def wait_active(self, lb_id: str) -> dict:
        def ready():
            lb = self.o.lb(lb_id)
            assert lb["provisioning_status"] != "ERROR", lb
            return lb if lb["provisioning_status"] == "ACTIVE" else None
        return wait_until(ready, 60, interval=0.05, what=f"load balancer {lb_id} ACTIVE")

    def _create(self, lb_id: str, path: str, key: str, body: dict) -> dict:
        r = self.post(path, key, body)
        assert r.status_code == 201, f"POST {path}: {r.status_code} {r.text}"
        self.wait_active(lb_id)
        return r.json()[key]

    def update(self, lb_id: str, path: str, key: str, body: dict) -> dict:
        r = self.put(path, key, body)
        assert r.status_code == 200, f"PUT {path}: {r.status_code} {r.text}"
        self.wait_active(lb_id)
        return r.json()[key]

    def lb(self, **kw) -> dict:
        r = self.post("loadbalancers", "loadbalancer", {"vip_subnet_id": self.subnet_id, **kw})
        assert r.status_code == 201, r.text
        return self.wait_active(r.json()["loadbalancer"]["id"])

    def listener(self, lb: dict, protocol: str = "HTTP", port: int = 80, **kw) -> dict:
        return self._create(lb["id"], "listeners", "listener", {
            "loadbalancer_id": lb["id"], "protocol": protocol, "protocol_port": port, **kw})

    def pool(self, lb: dict, listener: dict, protocol: str = "HTTP",
             algorithm: str = "ROUND_ROBIN", **kw) -> dict:
        return self._create(lb["id"], "pools", "pool", {
            "listener_id": listener["id"], "protocol": protocol, "lb_algorithm": algorithm,
            **kw})

    def member(self, lb: dict, pool: dict, backend: BackendBase, **kw) -> dict:
        return self._create(lb["id"], f"pools/{pool['id']}/members", "member", {
            "address": backend.host, "protocol_port": backend.port,
            "subnet_id": self.subnet_id, **kw})

    def members(self, lb: dict, pool: dict, backends: list[BackendBase],
                options: list[dict]) -> list[dict]:
        """All members at once (the batch update: one reconcile), in backend order."""
        batch = [{"address": b.host, "protocol_port": b.port, "subnet_id": self.subnet_id,
                  **kw} for b, kw in zip(backends, options, strict=True)]
        r = self.o.api("PUT", f"/v2/lbaas/pools/{pool['id']}/members",
                       json={"members": batch})
        assert r.status_code == 202, r.text
        self.wait_active(lb["id"])
        have = {(m["address"], m["protocol_port"]): m
                for m in self.get(f"pools/{pool['id']}/members")["members"]}
        return [have[(b.host, b.port)] for b in backends]

    def monitor(self, lb: dict, pool: dict, type_: str = "HTTP", **kw) -> dict:
        body = {"pool_id": pool["id"], "type": type_, "delay": 1, "timeout": 1,
                "max_retries": 1, "max_retries_down": 1, **kw}
        return self._create(lb["id"], "healthmonitors", "healthmonitor", body)

    def stack(self, backends: list[BackendBase], *, protocol: str = "HTTP",
              pool_protocol: str | None = None, algorithm: str = "ROUND_ROBIN",
              listener_kw: dict | None = None, pool_kw: dict | None = None,
              member_kw: list[dict] | None = None) -> Stack:
        """LB + listener on port 80 + default pool + one member per backend."""
        lb = self.lb()
        listener = self.listener(lb, protocol, 80, **(listener_kw or {}))
        pool = self.pool(lb, listener, pool_protocol or protocol, algorithm, **(pool_kw or {}))
        members = self.members(lb, pool, backends, member_kw or [{}] * len(backends))
        return Stack(self, lb, listener, pool, members)

    # -- statuses --
    def member_status(self, pool: dict, member: dict) -> str:
        return self.get(f"pools/{pool['id']}/members/{member['id']}")["member"][
            "operating_status"]

    def wait_member_status(self, pool: dict, member: dict, status: str,
                           timeout: float = STATUS_WAIT) -> None:
        wait_until(lambda: self.member_status(pool, member) == status, timeout,
                   interval=0.1, what=f"member {member['address']}:{member['protocol_port']} "
                                      f"{status}")

    def rendered_configs(self) -> str:
        """Every HAProxy configuration the agents of this octolb hold, concatenated."""
        return "\n".join(p.read_text() for p in
                         (self.o.state_dir / "amphorae").rglob("haproxy.cfg*"))


@dataclass
class Stack:
    cloud: Cloud
    lb: dict
    listener: dict
    pool: dict
    members: list[dict] = field(default_factory=list)

    @property
    def vip(self) -> str:
        return self.lb["vip_address"]

    @property
    def url(self) -> str:
        return f"http://{self.vip}:{self.listener['protocol_port']}"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[Cloud]:
    o = Octolb(tmp_path_factory.mktemp("octolb") / "state", heartbeat_interval=HEARTBEAT)
    try:
        o.start()
        yield Cloud(o)
    finally:
        o.close()


@pytest.fixture
def backends() -> Iterator[list]:
    """Append started backends here; they are stopped when the test ends."""
    started: list[BackendBase] = []
    yield started
    for b in started:
        b.stop()


# --- clients -------------------------------------------------------------------------------

def http_client(source: str | None = None, **kw) -> httpx.Client:
    """An HTTP client, optionally from a chosen 127/8 source address."""
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(timeout=kw.pop("timeout", 10), transport=transport, **kw)


def http_get(url: str, source: str | None = None, timeout: float = 10,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of one GET on a new connection, `Connection: close`. A plain socket:
    cheaper than a new httpx client per request, and each request is balanced anew."""
    parsed = httpx.URL(url)
    lines = [f"GET {parsed.raw_path.decode()} HTTP/1.1", f"Host: {parsed.host}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection((parsed.host, parsed.port or 80), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()


def answers(url: str, n: int, source: str | None = None, path: str = "/") -> list[str]:
    """Bodies of n requests, each on a new connection (so TCP-level balancing shows too)."""
    out = []
    for _ in range(n):
        status, body = http_get(url + path, source)
        assert status == 200, (status, body)
        out.append(body)
    return out


def wait_serving(url: str, expect: set[str] | None = None, timeout: float = 20) -> None:
    """Poll until the VIP answers 200 (and, with `expect`, until those bodies appear)."""
    seen: set[str] = set()

    def ok():
        status, body = http_get(url, timeout=2)
        if status != 200:
            return False
        seen.add(body)
        return expect is None or expect <= seen
    wait_until(ok, timeout, interval=0.05, what=f"{url} serving {expect or ''}")


def tcp_exchange(host: str, port: int, line: str = "hello", source: str | None = None,
                 timeout: float = 10) -> str:
    """Connect, send one line, return the one line that comes back.

    Then half-close and wait for HAProxy's end of stream: HAProxy forwards it only after
    the member has closed too, when it has already released the member (its connection
    count, which leastconn reads, is back down before this returns)."""
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(line.encode() + b"\n")
        reply = read_line(s)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
        return reply


def read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def connection_refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# --- backends --------------------------------------------------------------------------------

class BackendBase:
    name: str
    host: str
    port: int

    def stop(self) -> None:
        raise NotImplementedError


class _QuietHTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # health checks and timeouts hang up early


@dataclass
class Seen:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    client: tuple[str, int]


class HTTPBackend(BackendBase):
    """An HTTP member that answers every method with its name and records each request.

    `status[path]` chooses the status code of a path (default 200), `delay` makes every
    answer to `slow_path` wait, `cookie` (name) makes it set `<name>=<backend name>`.
    With `tls=True` it speaks HTTPS with a self-signed certificate whose CN is its name.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int | None = None, *,
                 tls: bool = False, status: dict[str, int] | None = None,
                 cookie: str | None = None) -> None:
        self.name, self.host = name, host
        self.port = port or free_port(host)
        self.tls = tls
        self.status = dict(status or {})
        self.cookie = cookie
        self.slow_path = "/slow"
        self.delay = 0.0
        self.seen: list[Seen] = []
        self.server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def requests(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if path is None or s.path == path]

    @property
    def hits(self) -> int:
        """Requests for `/`, the path the tests' clients use (monitors use others)."""
        return len(self.requests("/"))

    def start(self) -> HTTPBackend:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                with backend._lock:
                    backend.seen.append(Seen(self.command, self.path, self.request_version,
                                             {k.lower(): v for k, v in self.headers.items()},
                                             self.client_address))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == backend.slow_path and backend.delay:
                    time.sleep(backend.delay)
                body = backend.name.encode()
                self.send_response(backend.status.get(self.path.split("?")[0], 200))
                if backend.cookie:
                    self.send_header("Set-Cookie", f"{backend.cookie}={backend.name}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one  # noqa: N815
            do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = handle_one  # noqa: N815

            def log_message(self, *_args):
                pass

        self.server = _QuietHTTPServer((self.host, self.port), Handler)
        if self.tls:
            ctx = server_tls_context(self.name)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class TCPBackend(BackendBase):
    """A raw TCP member: for every line received it answers `<name>` (or, with PROXY
    protocol, `<name> <client-address-from-the-header>`), until the peer hangs up.

    `open` is the number of connections it currently holds, `hits` the number of
    connections that sent at least one line (health checks send nothing). With
    `proxy` ("v1" or "v2") it first reads a PROXY header; if what follows is an HTTP
    request it answers one HTTP response instead of lines.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int | None = None, *,
                 proxy: str | None = None, backlog: int = 64) -> None:
        self.name, self.host = name, host
        self.port = port or free_port(host)
        self.proxy = proxy
        self.backlog = backlog
        self.open = 0
        self.hits = 0
        self.proxy_sources: list[str] = []
        self.server: _TCPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> TCPBackend:
        backend = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with backend._lock:
                    backend.open += 1
                try:
                    self._serve()
                except OSError:
                    pass
                finally:
                    with backend._lock:
                        backend.open -= 1

            def _serve(self):
                seen = ""
                if backend.proxy:
                    seen = read_proxy_header(self.rfile)
                    with backend._lock:
                        backend.proxy_sources.append(seen)
                first = True
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    if first:
                        with backend._lock:
                            backend.hits += 1
                        first = False
                    reply = f"{backend.name} {seen}".strip()
                    if line.split(b" ")[0] in (b"GET", b"HEAD", b"POST"):
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        body = reply.encode()
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                        return
                    self.wfile.write(reply.encode() + b"\n")

        class Server(_TCPServer):
            request_queue_size = backend.backlog

        self.server = Server((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class BlackholeBackend(BackendBase):
    """A listening socket that never accepts, its accept queue already full: the SYN of
    every further connection is dropped, so a connect to it hangs until the client's
    timeout (Linux drops SYNs to a listener whose accept queue is full)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.name, self.host = "blackhole", host
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(0)
        # backlog 0 admits exactly one connection to the accept queue (the kernel's test
        # is `queued > backlog`); once it is connected, the queue is full.
        self.filler = socket.create_connection((host, self.port), timeout=5)

    def stop(self) -> None:
        self.filler.close()
        self.sock.close()


_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_proxy_header(rfile) -> str:
    """`ip:port` of the client announced by a PROXY v1 or v2 header."""
    head = rfile.read(5)
    if head == b"PROXY":
        line = (head + rfile.readline()).decode().split()
        return f"v1 {line[2]}:{line[4]}"
    head += rfile.read(16 - len(head))
    if not head.startswith(_V2_SIG):
        raise OSError(f"no PROXY header: {head!r}")
    family, length = head[13], struct.unpack("!H", head[14:16])[0]
    body = rfile.read(length)
    if family >> 4 != 1:  # AF_INET
        return "v2 ?"
    src = ipaddress.IPv4Address(body[0:4])
    sport = struct.unpack("!H", body[8:10])[0]
    return f"v2 {src}:{sport}"


# --- TLS -----------------------------------------------------------------------------------

@functools.cache
def self_signed(cn: str) -> bytes:
    """PEM of a self-signed certificate with common name `cn`, followed by its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def server_tls_context(cn: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:  # ssl loads files only
        pem.write(self_signed(cn))
        pem.flush()
        ctx.load_cert_chain(pem.name)
    return ctx


def tls_get(host: str, port: int, path: str = "/", source: str | None = None
            ) -> tuple[str, str]:
    """(common name of the certificate the server presented, body of GET `path`) over TLS
    with no verification: which member terminated the TLS session, and what it said."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10,
                                  source_address=(source, 0) if source else None) as raw, \
            ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
        cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return cn, data.split(b"\r\n\r\n", 1)[1].decode()

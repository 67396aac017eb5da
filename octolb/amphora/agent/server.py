"""The agent's REST API over mutual TLS (paths and bodies follow Octavia's agent API 1.0).

Errors of the HTTP layer (unknown path, wrong method) are ``{"error", "http_code"}``;
errors of an operation are ``{"message", "details"}``, as Octavia's agent answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import API_VERSION, hostinfo
from .config import AgentConfig, ConfigError, load_config
from .haproxy import LB_ID_PATTERN, HAProxyError, HAProxyManager, InvalidConfig, NoConfig

LOG = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0
ACTIONS = ("start", "stop", "reload")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: object, **headers: str) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=dict(headers))


def http_error(status: int, text: str) -> Response:
    return json_response(status, {"error": text, "http_code": status})


def op_error(status: int, message: str, details: str = "") -> Response:
    return json_response(status, {"message": message, "details": details})


Handler = Callable[..., Response]
_ID = f"({LB_ID_PATTERN})"
_CERT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.pem")


class AgentApp:
    """Maps (method, path, body) to a Response; knows nothing of sockets or TLS."""

    def __init__(self, haproxy: HAProxyManager, server_cert: Path,
                 config_path: Path | None = None,
                 on_config: Callable[[AgentConfig], None] | None = None) -> None:
        self.haproxy = haproxy
        self.server_cert = server_cert
        self.config_path = config_path
        self.on_config = on_config
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/"), self.version),
            ("GET", re.compile(r"/1\.0/info"), self.info),
            ("GET", re.compile(r"/1\.0/details"), self.details),
            ("GET", re.compile(r"/1\.0/listeners"), self.listeners),
            ("PUT", re.compile(rf"/1\.0/loadbalancer/{_ID}/{_ID}/haproxy"), self.upload_config),
            ("GET", re.compile(rf"/1\.0/loadbalancer/{_ID}/haproxy"), self.get_config),
            ("PUT", re.compile(rf"/1\.0/loadbalancer/{_ID}/([A-Za-z]+)"), self.action),
            ("DELETE", re.compile(rf"/1\.0/listeners/{_ID}"), self.delete),
            ("PUT", re.compile(r"/1\.0/certificate"), self.update_certificate),
            ("PUT", re.compile(rf"/1\.0/loadbalancer/{_ID}/certificates/([^/]+)"),
             self.upload_lb_certificate),
            ("GET", re.compile(rf"/1\.0/loadbalancer/{_ID}/certificates/([^/]+)"),
             self.get_lb_certificate),
            ("DELETE", re.compile(rf"/1\.0/loadbalancer/{_ID}/certificates/([^/]+)"),
             self.delete_lb_certificate),
            ("PUT", re.compile(r"/1\.0/config"), self.update_agent_config),
        ]

    def handle(self, method: str, path: str, body: bytes) -> Response:
        path = path.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        path_matched = False
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            path_matched = True
            if route_method == method:
                try:
                    return handler(body, *match.groups())
                except NoConfig as exc:
                    return op_error(404, exc.message, exc.details)
                except InvalidConfig as exc:
                    LOG.error("%s %s: configuration refused\n%s", method, path, exc.details)
                    return op_error(400, exc.message, exc.details)
                except HAProxyError as exc:
                    LOG.error("%s %s failed: %s\n%s", method, path, exc.message, exc.details)
                    return op_error(500, exc.message, exc.details)
        if path_matched:
            return http_error(405, "Method Not Allowed")
        return http_error(404, "Not Found")

    # --- handlers --------------------------------------------------------------------

    def version(self, body: bytes) -> Response:
        return json_response(200, {"api_version": API_VERSION})

    def info(self, body: bytes) -> Response:
        return json_response(200, hostinfo.info(self.haproxy))

    def details(self, body: bytes) -> Response:
        return json_response(200, hostinfo.details(self.haproxy))

    def listeners(self, body: bytes) -> Response:
        entries = [f for lb in self.haproxy.load_balancers() for f in self.haproxy.frontends(lb)]
        return json_response(200, entries)

    def upload_config(self, body: bytes, amphora_id: str, lb_id: str) -> Response:
        try:
            self.haproxy.install_config(lb_id, body)
        except InvalidConfig as exc:
            return op_error(400, "Invalid request", exc.details)
        return json_response(202, {"message": "OK"}, ETag=hashlib.md5(body).hexdigest())

    def get_config(self, body: bytes, lb_id: str) -> Response:
        config = self.haproxy.read_config(lb_id)
        if config is None:
            return op_error(404, "Loadbalancer Not Found", f"No loadbalancer with UUID: {lb_id}")
        return Response(200, config, "text/plain; charset=utf-8",
                        {"ETag": hashlib.md5(config).hexdigest()})

    def action(self, body: bytes, lb_id: str, action: str) -> Response:
        action = action.lower()
        if action not in ACTIONS:
            return op_error(400, "Invalid Request", f"Unknown action: {action}")
        how = getattr(self.haproxy, action)(lb_id)
        past = {"start": "started", "stop": "stopped", "reload": "reloaded"}[action]
        if action == "reload" and isinstance(how, str):
            past = how  # "updated at runtime (...)" when no reload was needed
        return json_response(
            202, {"message": "OK", "details": f"haproxy daemon for {lb_id} {past}"}
        )

    def delete(self, body: bytes, lb_id: str) -> Response:
        self.haproxy.delete(lb_id)
        return json_response(200, {"message": "OK"})

    def update_certificate(self, body: bytes) -> Response:
        """Replace the agent's certificate (rotation); new connections use the new one."""
        tmp = self.server_cert.with_name(f".{self.server_cert.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tmp)
        except (ssl.SSLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            return op_error(400, "Invalid request", f"not a certificate and key: {exc}")
        os.replace(tmp, self.server_cert)
        return json_response(202, {"message": "OK"})


    def _lb_certificate(self, lb_id: str, filename: str) -> Path | None:
        """A tenant TLS file of the LB (`<name>.pem` in the LB's directory), or None for a
        name that is not one."""
        if not _CERT_NAME.fullmatch(filename):
            return None
        return self.haproxy.lb_dir(lb_id) / filename

    def upload_lb_certificate(self, body: bytes, lb_id: str, filename: str) -> Response:
        """Store a listener's certificate, CA, CRL or crt-list, mode 0600 (never logged)."""
        path = self._lb_certificate(lb_id, filename)
        if path is None:
            return op_error(400, "Filename has wrong format")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, path)
        return json_response(200, {"message": "OK"}, ETag=hashlib.md5(body).hexdigest())

    def get_lb_certificate(self, body: bytes, lb_id: str, filename: str) -> Response:
        path = self._lb_certificate(lb_id, filename)
        if path is None:
            return op_error(400, "Filename has wrong format")
        try:
            digest = hashlib.md5(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return op_error(404, "Certificate Not Found", f"No certificate with filename: "
                            f"{filename}")
        return json_response(200, {"md5sum": digest}, ETag=digest)

    def delete_lb_certificate(self, body: bytes, lb_id: str, filename: str) -> Response:
        path = self._lb_certificate(lb_id, filename)
        if path is None:
            return op_error(400, "Filename has wrong format")
        path.unlink(missing_ok=True)
        return json_response(200, {"message": "OK"})

    def update_agent_config(self, body: bytes) -> Response:
        """Replace the agent's configuration; the mutable options (heartbeat key,
        destinations, interval; the watchdog scan interval) take effect at once."""
        if self.config_path is None or self.on_config is None:
            return op_error(404, "Not implemented", "this agent takes no config updates")
        current = load_config(self.config_path)
        tmp = self.config_path.with_name(f".{self.config_path.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        try:
            new = load_config(tmp)
        except ConfigError as exc:
            tmp.unlink(missing_ok=True)
            return op_error(400, "Invalid request", str(exc))
        if new.amphora_id != current.amphora_id:
            tmp.unlink(missing_ok=True)
            return op_error(400, "Invalid request", "the configuration is another amphora's")
        os.replace(tmp, self.config_path)
        self.on_config(new)
        LOG.info("agent configuration updated")
        return json_response(202, {"message": "OK"})


class TLSContextSource:
    """Server TLS context requiring a client certificate; rebuilt when the cert file changes."""

    def __init__(self, server_cert: Path, client_ca: Path) -> None:
        self.server_cert = server_cert
        self.client_ca = client_ca
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._context: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        st = os.stat(self.server_cert)
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._context is None or stamp != self._stamp:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(cafile=str(self.client_ca))
                ctx.load_cert_chain(str(self.server_cert))
                self._context, self._stamp = ctx, stamp
            return self._context


class AgentHTTPServer(ThreadingHTTPServer):
    """Threaded HTTPS server; the TLS handshake happens in the request's own thread so a
    slow or hostile client cannot block ``accept``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: AgentApp, tls: TLSContextSource,
                 read_timeout: float) -> None:
        self.app = app
        self.tls = tls
        self.read_timeout = read_timeout
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve a FQDN for the address (a DNS query).
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address) -> None:  # type: ignore[override]
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls_sock = self.tls.get().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            LOG.info("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            tls_sock.settimeout(self.read_timeout)
            self.RequestHandlerClass(tls_sock, client_address, self)
        finally:
            tls_sock.close()


class RequestHandler(BaseHTTPRequestHandler):
    server: AgentHTTPServer
    server_version = "octolb-amphora-agent"
    disable_nagle_algorithm = True  # headers and body are separate TLS records

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(http_error(413 if length > 0 else 400, "Bad Content-Length"))
            return
        body = self.rfile.read(length) if length else b""
        try:
            response = self.server.app.handle(self.command, self.path, body)
        except Exception:
            LOG.exception("%s %s failed", self.command, self.path)
            response = http_error(500, "Internal Server Error")
        self._send(response)

    do_GET = do_PUT = do_DELETE = do_POST = _dispatch

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        LOG.info("%s %s", self.address_string(), format % args)

"""Controller side of the amphora agent API (version 1.0) over mutual TLS.

The agent's certificate is verified against the CA *and* against the amphora id as
host name (the certificate's CN/SAN is the id; the IP is not checked): a different
amphora answering on a reused address is refused. Each request uses a new TLS
connection, so identity is verified on every call.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

LOG = logging.getLogger(__name__)

API_VERSION = "1.0"
USER_AGENT = f"octolb amphora client/{API_VERSION}"
_ID_RE = re.compile(r"^[0-9a-f-]{36}$")
_CERT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.pem$")


class Amphora(Protocol):
    id: str
    lb_network_ip: str


class AmphoraError(Exception):
    """Base of every error talking to an amphora agent."""


class AmphoraUnreachable(AmphoraError):
    """No answer: connection refused or reset, timeout, TLS failure."""


class AmphoraIdentityError(AmphoraUnreachable):
    """Something answered, but its certificate is not the expected amphora's."""


class AmphoraRequestError(AmphoraError):
    """The agent answered with an unexpected status."""

    def __init__(self, message: str, status_code: int, details: Any = None) -> None:
        super().__init__(f"{message} (HTTP {status_code}): {details}")
        self.status_code = status_code
        self.details = details


class AmphoraNotFound(AmphoraRequestError):
    """The agent does not know the load balancer (404)."""


class InvalidConfig(AmphoraRequestError):
    """The agent's ``haproxy -c`` rejected the configuration; ``details`` is its output."""


class AmphoraClient:
    def __init__(
        self,
        ca_cert: Path,
        client_cert: Path,
        bind_port: int = 9443,
        conn_timeout: float = 2.0,
        read_timeout: float = 30.0,
    ) -> None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(client_cert))
        self.bind_port = bind_port
        self._http = httpx.Client(
            verify=context,
            timeout=httpx.Timeout(read_timeout, connect=conn_timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # never send agent traffic through an HTTP(S)_PROXY
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AmphoraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- API -------------------------------------------------------------------------

    def wait_ready(self, amp: Amphora, attempts: int = 60, interval: float = 1.0) -> str:
        """Poll ``GET /`` until the agent answers; return its API version."""
        last: AmphoraUnreachable | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                time.sleep(interval)
            try:
                response = self._request(amp, "GET", "/")
            except AmphoraUnreachable as exc:
                last = exc
                continue
            self._expect(response, 200)
            return str(response.json().get("api_version", ""))
        assert last is not None
        raise last

    def get_info(self, amp: Amphora) -> dict:
        return self._expect(self._request(amp, "GET", "/1.0/info"), 200).json()

    def get_details(self, amp: Amphora) -> dict:
        return self._expect(self._request(amp, "GET", "/1.0/details"), 200).json()

    def get_listeners(self, amp: Amphora) -> list[dict]:
        return self._expect(self._request(amp, "GET", "/1.0/listeners"), 200).json()

    def upload_config(self, amp: Amphora, lb_id: str, text: str) -> None:
        """Install the LB's HAProxy configuration (validated by the agent; not loaded)."""
        body = text.encode()
        path = f"/1.0/loadbalancer/{_checked(amp.id)}/{_checked(lb_id)}/haproxy"
        response = self._request(amp, "PUT", path, body)
        if response.status_code == 400:
            raise InvalidConfig("invalid HAProxy configuration", 400, _details(response))
        self._expect(response, 202)
        etag = response.headers.get("ETag", "").strip('"')
        if etag and etag != hashlib.md5(body).hexdigest():
            raise AmphoraError(f"amphora {amp.id} stored a different configuration (ETag)")

    def upload_certificate(self, amp: Amphora, lb_id: str, name: str, pem: bytes) -> None:
        """Store a TLS file (certificate bundle, CA, CRL, crt-list) in the LB's directory
        on the amphora, before the configuration that names it."""
        if not _CERT_NAME_RE.match(name):
            raise ValueError(f"invalid certificate file name {name!r}")
        path = f"/1.0/loadbalancer/{_checked(lb_id)}/certificates/{name}"
        response = self._expect(self._request(amp, "PUT", path, pem), 200)
        etag = response.headers.get("ETag", "").strip('"')
        if etag and etag != hashlib.md5(pem).hexdigest():
            raise AmphoraError(f"amphora {amp.id} stored a different {name} (ETag)")

    def get_config(self, amp: Amphora, lb_id: str) -> str | None:
        response = self._request(amp, "GET", f"/1.0/loadbalancer/{_checked(lb_id)}/haproxy")
        if response.status_code == 404:
            return None
        return self._expect(response, 200).text

    def start(self, amp: Amphora, lb_id: str) -> None:
        self._action(amp, lb_id, "start")

    def reload(self, amp: Amphora, lb_id: str) -> None:
        """Load the installed configuration without dropping connections (starts if stopped)."""
        self._action(amp, lb_id, "reload")

    def stop(self, amp: Amphora, lb_id: str) -> None:
        self._action(amp, lb_id, "stop")

    def delete_lb(self, amp: Amphora, lb_id: str) -> None:
        """Stop the LB's HAProxy and remove its files; fine when it does not exist."""
        self._expect(self._request(amp, "DELETE", f"/1.0/listeners/{_checked(lb_id)}"), 200)

    def update_server_cert(self, amp: Amphora, pem: bytes) -> None:
        """Replace the agent's certificate (rotation); later connections use the new one."""
        self._expect(self._request(amp, "PUT", "/1.0/certificate", pem), 202)

    def update_agent_config(self, amp: Amphora, text: bytes) -> None:
        """Replace the agent's configuration (`amphora configure`)."""
        self._expect(self._request(amp, "PUT", "/1.0/config", text), 202)

    # --- transport -------------------------------------------------------------------

    def _action(self, amp: Amphora, lb_id: str, action: str) -> None:
        response = self._request(amp, "PUT", f"/1.0/loadbalancer/{_checked(lb_id)}/{action}")
        if response.status_code == 400 and action in ("start", "reload"):
            # a first configuration is checked when HAProxy starts with it
            raise InvalidConfig("invalid HAProxy configuration", 400, _details(response))
        self._expect(response, 202)

    def _url(self, amp: Amphora, path: str) -> str:
        host = amp.lb_network_ip
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.bind_port}{path}"

    def _request(
        self, amp: Amphora, method: str, path: str, content: bytes | None = None
    ) -> httpx.Response:
        LOG.debug("%s %s on amphora %s", method, path, amp.id)
        try:
            return self._http.request(
                method, self._url(amp, path), content=content,
                extensions={"sni_hostname": amp.id},
            )
        except httpx.TransportError as exc:
            where = f"amphora {amp.id} at {amp.lb_network_ip}:{self.bind_port}"
            if _verification_failed(exc):
                raise AmphoraIdentityError(f"{where}: certificate rejected: {exc}") from exc
            raise AmphoraUnreachable(f"{where}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _expect(response: httpx.Response, status: int) -> httpx.Response:
        if response.status_code == status:
            return response
        error = AmphoraNotFound if response.status_code == 404 else AmphoraRequestError
        raise error(
            f"{response.request.method} {response.request.url.path}",
            response.status_code, _details(response),
        )


def _checked(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(f"invalid id {value!r}")
    return value


def _details(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict) and "details" in body:
        return body["details"]
    return body


def _verification_failed(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False

"""A real Keystone (PyPI `keystone`, installed by `make setup` into its own virtualenv
`.venv-keystone`: its pins are not octolb's) on its own SQLite database, for the tests of
`auth_strategy = keystone`.

`Keystone(dir).start()` writes keystone.conf, runs `keystone-manage db_sync`, `fernet_setup`,
`credential_setup` and `bootstrap` (admin user and project, the reader/member/admin/service
roles, RegionOne, the identity endpoint on a free 127.0.0.1 port), serves Keystone's WSGI
application from `.venv-keystone`'s python (werkzeug, threaded), and, through the identity
API with the admin's system-scoped token, creates the users the tests log in as. `stop()`
ends the server process (by its pid) and waits for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness import ROOT, free_port

VENV = ROOT / ".venv-keystone"
PYTHON = VENV / "bin" / "python"
MANAGE = VENV / "bin" / "keystone-manage"
ADMIN_PASSWORD = "admin-secret"  # noqa: S105 - a throw-away test Keystone
PASSWORD = "user-secret"  # noqa: S105

# Keystone's WSGI app on a threaded werkzeug server; config from OS_KEYSTONE_CONFIG_FILES.
_SERVE = """
import sys
from werkzeug.serving import make_server
from keystone.server import wsgi
host, port = sys.argv[1], int(sys.argv[2])
del sys.argv[1:]  # Keystone parses the command line for its own options
app = wsgi.initialize_public_application()
server = make_server(host, port, app, threaded=True)
print("keystone serving", flush=True)
server.serve_forever()
"""


def missing() -> str | None:
    """Why the tests cannot have a Keystone, or None."""
    if not PYTHON.exists() or not MANAGE.exists():
        return f"{VENV} is absent (`make setup` installs PyPI keystone there)"
    return None


@dataclass
class User:
    name: str
    id: str
    project_name: str
    project_id: str
    password: str = PASSWORD


class Keystone:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth_url = f"{self.url}/v3"
        self.conf = base / "keystone.conf"
        self.log = base / "keystone.log"
        self.proc: subprocess.Popen | None = None
        self.roles: dict[str, str] = {}
        self.users: dict[str, User] = {}

    # -- process --------------------------------------------------------------------------
    def _manage(self, *args: str) -> None:
        r = subprocess.run([str(MANAGE), "--config-file", str(self.conf), *args],
                           capture_output=True, text=True, timeout=300, cwd=self.base)
        if r.returncode != 0:
            raise AssertionError(f"keystone-manage {args[0]} failed:\n{r.stderr[-3000:]}")

    def start(self) -> Keystone:
        self.base.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "[DEFAULT]\n"
            f"log_file = {self.log}\n"
            "[database]\n"
            f"connection = sqlite:///{self.base / 'keystone.db'}\n"
            "[token]\nprovider = fernet\nexpiration = 3600\n"
            f"[fernet_tokens]\nkey_repository = {self.base / 'fernet-keys'}\n"
            f"[fernet_receipts]\nkey_repository = {self.base / 'fernet-keys'}\n"
            f"[credential]\nkey_repository = {self.base / 'credential-keys'}\n"
            "[cache]\nenabled = false\n")
        user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        self._manage("db_sync")
        self._manage("fernet_setup", *user)
        self._manage("credential_setup", *user)
        self._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                     "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                     "--bootstrap-region-id", "RegionOne",
                     "--bootstrap-admin-url", self.auth_url,
                     "--bootstrap-internal-url", self.auth_url,
                     "--bootstrap-public-url", self.auth_url)
        out = open(self.base / "server.out", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [str(PYTHON), "-c", _SERVE, "127.0.0.1", str(self.port)],
            env={**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(self.conf)},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.base,
            start_new_session=True)
        out.close()
        try:
            deadline = time.monotonic() + 60
            while not self._up():
                assert time.monotonic() < deadline, "keystone did not answer in 60 s"
                time.sleep(0.2)
            self._populate()
        except BaseException:
            self.stop()
            raise
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("keystone exited:\n"
                                 + (self.base / "server.out").read_text()[-3000:])
        try:
            return httpx.get(self.auth_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    # -- identity API ---------------------------------------------------------------------
    def token(self, user: str, password: str, scope: dict) -> str:
        """A token for `user` (Default domain) with `scope` (Keystone's auth scope)."""
        r = httpx.post(f"{self.auth_url}/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": scope}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def project_token(self, user: User) -> str:
        return self.token(user.name, user.password, {"project": {
            "name": user.project_name, "domain": {"id": "default"}}})

    def _admin(self, method: str, path: str, **kw) -> httpx.Response:
        r = httpx.request(method, f"{self.auth_url}{path}", timeout=30,
                          headers={"X-Auth-Token": self._admin_token}, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def _populate(self) -> None:
        self._admin_token = self.token("admin", ADMIN_PASSWORD, {"system": {"all": True}})
        self.roles = {r["name"]: r["id"] for r in self._admin("GET", "/roles").json()["roles"]}
        projects = {p["name"]: p["id"]
                    for p in self._admin("GET", "/projects").json()["projects"]}
        for name in ("tenant-a", "tenant-b", "service"):
            projects[name] = self._admin("POST", "/projects", json={"project": {
                "name": name, "domain_id": "default"}}).json()["project"]["id"]
        admin_id = self._admin("GET", "/users?name=admin").json()["users"][0]["id"]
        self.users["admin"] = User("admin", admin_id, "admin", projects["admin"],
                                   ADMIN_PASSWORD)
        for name, project, role in (("member-a", "tenant-a", "member"),
                                    ("reader-a", "tenant-a", "reader"),
                                    ("member-b", "tenant-b", "member"),
                                    ("octolb", "service", "service")):
            uid = self._admin("POST", "/users", json={"user": {
                "name": name, "domain_id": "default", "password": PASSWORD}}).json()[
                "user"]["id"]
            self._admin("PUT", f"/projects/{projects[project]}/users/{uid}/roles/"
                               f"{self.roles[role]}")
            self.users[name] = User(name, uid, project, projects[project])

    def authtoken_conf(self) -> str:
        """octolb's `[keystone_authtoken]`: the `octolb` service user validates tokens."""
        return ("[keystone_authtoken]\n"
                f"www_authenticate_uri = {self.auth_url}\n"
                f"auth_url = {self.auth_url}\n"
                "auth_type = password\n"
                "username = octolb\n"
                f"password = {PASSWORD}\n"
                "project_name = service\n"
                "user_domain_id = default\n"
                "project_domain_id = default\n"
                "region_name = RegionOne\n")


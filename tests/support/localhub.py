"""A real JupyterHub on 127.0.0.1 for tests, the sandbox and benchmarks.

It is configured the way the hub instance is: FirstUseAuthenticator with ``create_users = False``
(only users created through the API can log in; the first password typed becomes theirs), and a
service whose token has the ``admin`` role, appended to ``c.JupyterHub.services`` as the TLJH config
snippet does. configurable-http-proxy comes from the project's node_modules. Everything (sqlite db,
cookie secret, passwords, logs) lives in one work directory, and every port is a free one.

Servers are spawned by SimpleLocalProcessSpawner running a tiny HTTP responder (no Jupyter server),
so starting a user's server through the API takes well under a second and ``server_running`` and
activity are real hub state.

    with LocalHub(tmp_path) as hub:
        hub.api("POST", "/users/alice")
        assert hub.login("alice", "first-password")
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAME = "workshop-hub"

# Answers every request with 200: enough for the hub to see a user's server as up.
_FAKE_SERVER = """
import http.server, os, sys, urllib.parse
url = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_proxy() -> str:
    local = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    found = shutil.which("configurable-http-proxy")
    if not found:
        raise RuntimeError("configurable-http-proxy not found: run `npm install` in the project")
    return found


def find_jupyterhub() -> str:
    beside = Path(sys.executable).parent / "jupyterhub"
    if beside.exists():
        return str(beside)
    found = shutil.which("jupyterhub")
    if not found:
        raise RuntimeError("jupyterhub not found: install the project's dev dependencies")
    return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class LocalHub:
    """A JupyterHub process; ``start()`` returns once its API answers."""

    def __init__(self, workdir: Path | None = None, *, service_name: str = SERVICE_NAME) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="localhub-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.service_name = service_name
        self.token = secrets.token_hex(32)
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # the hub's own port, as hubagent uses it on the instance (TLJH: 127.0.0.1:15001)
        self.api_url = f"http://127.0.0.1:{self.hub_port}/hub/api"
        self.token_file = self.workdir / "hub-token"
        self.log_file = self.workdir / "jupyterhub.log"
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def config(self) -> str:
        w = self.workdir
        return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{find_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{w / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{w / "cookie_secret"}"
c.JupyterHub.pid_file = "{w / "jupyterhub.pid"}"
c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.create_users = False
c.FirstUseAuthenticator.dbm_path = "{w / "passwords.dbm"}"
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = "{w / "homes"}/{{username}}"
c.Spawner.cmd = [{sys.executable!r}, "{w / "fake_server.py"}"]
c.Spawner.http_timeout = 15
# As the instance's config snippet does: append (assigning would drop TLJH's idle culler).
c.JupyterHub.services.append({{"name": {self.service_name!r}, "api_token": {self.token!r}}})
c.JupyterHub.load_roles.append({{"name": "admin", "services": [{self.service_name!r}]}})
"""

    def start(self, timeout: float = 60) -> LocalHub:
        (self.workdir / "homes").mkdir(exist_ok=True)
        (self.workdir / "fake_server.py").write_text(_FAKE_SERVER)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config())
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [find_jupyterhub(), "-f", str(config)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() also ends its proxy
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                status, _ = self.api("GET", "/")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyterhub did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        pgid = process.pid  # start_new_session: the group id is the hub's pid
        os.killpg(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):  # the proxy and servers, if the hub left them
            os.killpg(pgid, signal.SIGKILL)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # -- the REST API, as the service ------------------------------------------------------------
    def api(self, method: str, path: str, body: object = None, **headers: str) -> tuple[int, Any]:
        """One API request with the service token; returns (status, decoded JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, json.loads(raw) if raw else None

    def user_names(self) -> list[str]:
        """Every user name, following pagination."""
        names: list[str] = []
        offset = 0
        while True:
            _, page = self.api(
                "GET", f"/users?offset={offset}&limit=200", Accept="application/jupyterhub-pagination+json"
            )
            names += [u["name"] for u in page["items"]]
            following = page["_pagination"]["next"]
            if not following:
                return names
            offset = following["offset"]

    def start_server(self, name: str, timeout: float = 30) -> None:
        """Start a user's (stand-in) server and wait until the hub reports it running."""
        status, body = self.api("POST", f"/users/{name}/server")
        if status not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"starting {name}'s server: {status} {body}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api("GET", f"/users/{name}")[1].get("server"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name}'s server did not start within {timeout} s:\n{self.log_tail()}")

    def stop_server(self, name: str) -> None:
        self.api("DELETE", f"/users/{name}/server")

    # -- a person in a browser -------------------------------------------------------------------
    def login(self, username: str, password: str) -> bool:
        """Log in through the hub's login form (with its _xsrf token), as a browser does.
        True when the hub answers with a redirect and a login cookie."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        login_url = f"{self.base_url}/hub/login"
        with opener.open(login_url, timeout=30) as page:
            html = page.read().decode()
        match = re.search(r'name="_xsrf"\s+value="([^"]+)"', html)
        form = {"username": username, "password": password} | ({"_xsrf": match.group(1)} if match else {})
        request = urllib.request.Request(login_url, data=urllib.parse.urlencode(form).encode(), method="POST")
        try:
            with opener.open(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        logged_in = any(cookie.name.startswith("jupyterhub-hub-login") for cookie in jar)
        return status in (301, 302, 303) and logged_in

"""A real JupyterHub on 127.0.0.1 standing in for TLJH.

As on TLJH: FirstUseAuthenticator with ``create_users=False`` (only users already in the hub can log in;
the first password typed becomes theirs), configurable-http-proxy in front, and a service token with the
``admin`` role that hubagent uses (FACTS: granting admin needs the admin role). The hub's own API is
served directly on ``hub_port`` (TLJH: 15001), the proxy on ``port`` (TLJH: 80).

The one place that writes the hub's config and starts, waits for and stops it. What users' servers are
is a setting (``spawner``): the sandbox gives ``SpawnSettings`` (the SandboxSpawner, so a logged-in user
gets a JupyterLab); the tests give a fast stand-in (tests/support/localhub.py).

    with LocalHub(root, spawner=...) as hub:
        hub.api("POST", "/users/alice")
        assert hub.login("alice", "first-password")
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from hubagent.files import write_secret

from sandbox.layout import PROJECT
from sandbox.procs import stop as stop_group

CHP = PROJECT / "node_modules" / ".bin" / "configurable-http-proxy"

# The rule participants read on the login page; the instance's snippet (stacks/userdata/bootstrap.sh,
# workshop-hub-login.py) carries the same sentence.
LOGIN_ANNOUNCEMENT = "First time here? Log in with the user name your instructor gave you. If you were also given a password, use it. If not, the first password you type (7 characters or more) becomes yours: remember it."


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Spawner(Protocol):
    """What users' servers are: the hub's spawner settings, as plain values."""

    def prepare(self, root: Path) -> None:
        """Make what the servers need (folders, scripts) before the hub starts."""

    def traits(self, root: Path) -> dict[str, dict[str, Any]]:
        """Config values by section, e.g. {"JupyterHub": {"spawner_class": ...}, "Spawner": {...}}."""


@dataclass
class SpawnSettings:
    """How users' servers run: homes HOMES/jupyter-NAME made from SKEL, commands from USER_ENV."""

    homes: Path
    skel: Path
    pid_dir: Path
    cmd: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    system_users: bool = False  # root only: each server runs as the unix user jupyter-NAME
    # hub.memory_limit: TLJH enforces it with systemd; here the hub only knows it (MEM_LIMIT in each
    # server's environment), as a plain process spawner has no cgroup to enforce it with.
    mem_limit: str | None = None

    def prepare(self, root: Path) -> None:
        pass

    def traits(self, root: Path) -> dict[str, dict[str, Any]]:
        return {
            "JupyterHub": {"spawner_class": "sandbox.spawner.SandboxSpawner"},
            "SandboxSpawner": {
                "home_dir_template": f"{self.homes}/jupyter-{{username}}",
                "skel_dir": str(self.skel),
                "pid_dir": str(self.pid_dir),
                "system_users": self.system_users,
            },
            "Spawner": {
                "cmd": self.cmd,
                "args": ["--ServerApp.allow_root=True"]
                if os.geteuid() == 0 and not self.system_users
                else [],
                "environment": self.environment,
                "default_url": "/lab",
                "start_timeout": 90,
                "http_timeout": 90,
                **({"mem_limit": self.mem_limit} if self.mem_limit else {}),
            },
        }


@dataclass
class LocalHub:
    root: Path
    admin: str = "instructor"
    port: int = 0
    hub_port: int = 0
    proxy_api_port: int = 0
    spawner: Spawner | None = None
    service_name: str = "hubagent"
    password_db: Path | None = None  # FirstUseAuthenticator's store (default: ROOT/passwords.dbm)
    token: str = ""
    environment: dict[str, str] = field(default_factory=dict)  # added to the hub's (and its proxy's)
    proc: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.port = self.port or free_port()
        self.hub_port = self.hub_port or free_port()
        self.proxy_api_port = self.proxy_api_port or free_port()
        self.token = self.token or secrets.token_hex(32)
        self.password_db = Path(self.password_db or self.root / "passwords.dbm")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The hub's REST API, directly (as hubagent reaches it on TLJH: http://127.0.0.1:15001/hub/api)."""
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def token_file(self) -> Path:
        return self.root / "service-token"

    @property
    def log_file(self) -> Path:
        return self.root / "jupyterhub.log"

    @property
    def door_environ(self) -> dict[str, str]:
        """hubagent's settings for this hub's sign-up door (door_environ)."""
        return door_environ(self.root)

    @property
    def proxy_pid_file(self) -> Path:
        # JupyterHub writes the proxy's pid here (ConfigurableHTTPProxy.pid_file, relative to its cwd)
        return self.root / "jupyterhub-proxy.pid"

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        write_secret(self.token_file, self.token + "\n")
        settings: dict[str, Any] = {
            "bind_url": f"{self.base_url}/",
            "hub_bind_url": f"http://127.0.0.1:{self.hub_port}",
            "proxy_api_url": f"http://127.0.0.1:{self.proxy_api_port}",
            "proxy_command": [str(CHP)],
            "db_url": f"sqlite:///{self.root / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(self.root / "jupyterhub_cookie_secret"),
            "pid_file": str(self.root / "jupyterhub.pid"),
            "dbm_path": str(self.password_db),
            "admin": self.admin,
            "token_file": str(self.token_file),
            "service_name": self.service_name,
            "announcement_login": LOGIN_ANNOUNCEMENT,
            "door_file": str(self.root / "door" / "signup.json"),
            "spool_file": str(self.root / "door" / "signups.jsonl"),
            "boot_id_file": str(self.root / "door" / "boot_id"),
            "traits": {},
        }
        if self.spawner is not None:
            self.spawner.prepare(self.root)
            settings["traits"] = self.spawner.traits(self.root)
        path = self.root / "jupyterhub_config.py"
        path.write_text(_CONFIG.replace("@SETTINGS@", repr(json.dumps(settings))), encoding="utf-8")
        return path

    def start(self, *, wait: bool = True, timeout_s: float = 60) -> Self:
        config = self.write_config()
        # Each start is a boot, as the instance's: a door opened before it stays shut until opened again.
        write_secret(self.root / "door" / "boot_id", secrets.token_hex(16) + "\n")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment}
        env["CONFIGPROXY_AUTH_TOKEN"] = secrets.token_hex(32)
        env["PATH"] = (
            f"{CHP.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        )
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() ends the proxy with it
            )
        self.pid = self.proc.pid
        if wait:
            try:
                self.wait_ready(timeout_s)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self.proc.returncode}; see {self.log_file}:\n{self.log_tail()}"
                )
            try:
                # Through the proxy: ready means the proxy routes to the hub, as a browser needs.
                with urllib.request.urlopen(f"{self.base_url}/hub/api", timeout=2) as reply:  # noqa: S310
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"JupyterHub did not answer on {self.base_url} in {timeout_s:.0f} s; see {self.log_file}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 15) -> None:
        if self.pid is None:
            return
        stop_group(self.pid, timeout_s)
        if self.proc is not None:
            self.proc.wait()
        self.proc = None
        self.pid = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # --- helpers for tests and the bench --------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        """A call to the hub's REST API with the service token: (status, parsed JSON or None).
        Extra headers as keywords, ``_`` for ``-`` (``Accept=...``)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        for name, value in headers.items():
            req.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(req, timeout=60) as reply:  # noqa: S310
                raw = reply.read()
                return reply.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw) if raw else None
            except ValueError:
                return err.code, raw.decode(errors="replace")

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

    def start_server(self, name: str, timeout_s: float = 30) -> None:
        """Start a user's server through the API and wait until the hub reports it running."""
        status, body = self.api("POST", f"/users/{name}/server")
        if status not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"starting {name}'s server: {status} {body}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.api("GET", f"/users/{name}")[1].get("server"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name}'s server did not start within {timeout_s} s:\n{self.log_tail()}")

    def stop_server(self, name: str) -> None:
        self.api("DELETE", f"/users/{name}/server")

    def login(self, username: str, password: str) -> bool:
        """Log in through the hub's login form (with its _xsrf token), as a person would."""
        return HubSession(self.base_url).login(username, password)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HubSession:
    """A browser-like session with the hub (cookies, xsrf): log in, start the server, open JupyterLab."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.username = ""
        self.cookies = CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.cookies)
        self._direct = urllib.request.build_opener(cookies, _NoRedirect)
        self._follow = urllib.request.build_opener(cookies)

    def _xsrf(self) -> str:
        for cookie in self.cookies:
            if cookie.name == "_xsrf" and cookie.value:
                return cookie.value
        return ""

    def get(self, path: str, *, follow: bool = False) -> tuple[int, str, str]:
        """(status, final URL, body) of a GET; ``follow`` follows redirects as a browser does."""
        opener = self._follow if follow else self._direct
        req = urllib.request.Request(f"{self.base_url}{path}", headers={"X-XSRFToken": self._xsrf()})  # noqa: S310
        try:
            with opener.open(req, timeout=60) as reply:
                return reply.status, reply.geturl(), reply.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return (
                err.code,
                err.headers.get("Location", "") or err.geturl(),
                err.read().decode(errors="replace"),
            )

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        """(status, Location) of a form POST, redirects not followed."""
        status, location, _ = self.post_page(path, form)
        return status, location

    def post_page(self, path: str, form: dict[str, str], **headers: str) -> tuple[int, str, str]:
        """(status, Location, body) of a form POST, redirects not followed."""
        req = urllib.request.Request(  # noqa: S310
            f"{self.base_url}{path}",
            data=urllib.parse.urlencode({**form, "_xsrf": self._xsrf()}).encode(),
            method="POST",
            headers={"X-XSRFToken": self._xsrf(), **{k.replace("_", "-"): v for k, v in headers.items()}},
        )
        try:
            with self._direct.open(req, timeout=60) as reply:
                body = reply.read().decode(errors="replace")
                return reply.status, reply.headers.get("Location", ""), body
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Location", ""), err.read().decode(errors="replace")

    def signup(
        self, username: str, password: str, code: str, *, password2: str | None = None, **headers: str
    ) -> tuple[int, str, str]:
        """Sign up at the walk-in door's form (/hub/signup), as a person would: (status, Location, page).
        Success redirects to the user's server with a login cookie; a refusal shows the form again."""
        status, _, page = self.get(f"/hub/signup?code={urllib.parse.quote(code)}")
        if not self._xsrf():
            match = re.search(r'name="_xsrf"\s+value="([^"]+)"', page)
            if match:
                self.cookies.set_cookie(_cookie("_xsrf", match.group(1)))
        form = {
            "username": username,
            "password": password,
            "password2": password if password2 is None else password2,
            "code": code,
        }
        status, location, page = self.post_page("/hub/signup", form, **headers)
        if status in (301, 302, 303):
            self.username = username
        return status, location, page

    def login(self, username: str, password: str) -> bool:
        status, _, page = self.get("/hub/login")
        if status != 200:
            return False
        if not self._xsrf():
            match = re.search(r'name="_xsrf"\s+value="([^"]+)"', page)
            if match:
                self.cookies.set_cookie(_cookie("_xsrf", match.group(1)))
        status, location = self.post("/hub/login", {"username": username, "password": password})
        # Success redirects into the hub with a login cookie; a refused login shows the form again.
        logged_in = any(cookie.name.startswith("jupyterhub-hub-login") for cookie in self.cookies)
        if status in (301, 302, 303) and "/hub/login" not in location and logged_in:
            self.username = username
            return True
        return False

    def start_server(self, timeout_s: float = 90) -> str:
        """Start this user's server and wait until JupyterLab answers; returns the lab's URL."""
        lab = f"/user/{self.username}/lab"
        self.get("/hub/spawn")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, url, _ = self.get(lab, follow=True)
            if status == 200 and urllib.parse.urlsplit(url).path.startswith(lab):
                return url
            time.sleep(0.5)
        raise TimeoutError(f"{self.username}'s server did not start in {timeout_s:.0f} s")


def door_environ(root: Path) -> dict[str, str]:
    """hubagent's settings for the sign-up door of the hub at ``root``: the door file, the spool and
    the boot id it reads; no door to install (the hub's config names it already)."""
    door = Path(root) / "door"
    return {
        "HUBAGENT_SIGNUP_DOOR": str(door / "signup.json"),
        "HUBAGENT_SIGNUP_SPOOL": str(door / "signups.jsonl"),
        "HUBAGENT_BOOT_ID_FILE": str(door / "boot_id"),
        "HUBAGENT_DOOR_DIR": "",
    }


def _cookie(name: str, value: str) -> Any:
    return Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {}
    )


# The hub's config: plain values in one JSON string, so nothing is ever pasted into Python code.
_CONFIG = """\
# Written by sandbox.hub: a local JupyterHub standing in for TLJH.
import json

s = json.loads(@SETTINGS@)
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = s["bind_url"]
c.JupyterHub.hub_bind_url = s["hub_bind_url"]
c.ConfigurableHTTPProxy.api_url = s["proxy_api_url"]
c.ConfigurableHTTPProxy.command = s["proxy_command"]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = s["db_url"]
c.JupyterHub.cookie_secret_file = s["cookie_secret_file"]
c.JupyterHub.pid_file = s["pid_file"]
# As on the instance once hubagent installed the door (hubagent/signup.py): FirstUse plus /hub/signup.
c.JupyterHub.authenticator_class = "hubagent.door.SignupAuthenticator"
c.FirstUseAuthenticator.create_users = False
c.SignupAuthenticator.door_file = s["door_file"]
c.SignupAuthenticator.spool_file = s["spool_file"]
c.SignupAuthenticator.boot_id_file = s["boot_id_file"]
c.SignupAuthenticator.forwarded_hops = 1  # configurable-http-proxy appends the browser's address
c.FirstUseAuthenticator.dbm_path = s["dbm_path"]
c.Authenticator.admin_users = {s["admin"]}
c.Authenticator.allow_all = True
with open(s["token_file"]) as f:
    token = f.read().strip()
# Exactly as the instance's snippet does (stacks/userdata/bootstrap.sh): append, since assigning would drop
# TLJH's idle culler; "admin": True, since an 'admin' entry in load_roles would pin that role's members.
c.JupyterHub.services.append({"name": s["service_name"], "api_token": token, "admin": True})
c.JupyterHub.template_vars.update({"announcement_login": s["announcement_login"]})
c.JupyterHub.cleanup_servers = True
c.JupyterHub.log_level = "INFO"
# The spawner's settings (SpawnSettings, or the tests' stand-in), section by section.
for section, values in s["traits"].items():
    for name, value in values.items():
        setattr(getattr(c, section), name, value)
"""

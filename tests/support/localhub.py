"""A real JupyterHub on 127.0.0.1 for the agent tests and benchmarks: sandbox.hub's LocalHub with
a fast stand-in for users' servers.

The hub is configured as the instance's is (see sandbox/hub.py): FirstUseAuthenticator with
``create_users = False``, and a service whose token has the ``admin`` role, appended to
``c.JupyterHub.services`` as the TLJH config snippet does. Everything lives in one work directory.

Servers are spawned by SimpleLocalProcessSpawner running a tiny HTTP responder (no Jupyter server),
so starting a user's server through the API takes well under a second and ``server_running`` and
activity are real hub state.

    with LocalHub(tmp_path) as hub:
        hub.api("POST", "/users/alice")
        assert hub.login("alice", "first-password")
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import hub

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


@dataclass
class StandInServers:
    """The spawner setting for the stand-in: SimpleLocalProcessSpawner running ``_FAKE_SERVER``."""

    def prepare(self, root: Path) -> None:
        (root / "homes").mkdir(parents=True, exist_ok=True)
        (root / "fake_server.py").write_text(_FAKE_SERVER)

    def traits(self, root: Path) -> dict[str, dict[str, Any]]:
        return {
            "JupyterHub": {"spawner_class": "jupyterhub.spawner.SimpleLocalProcessSpawner"},
            "SimpleLocalProcessSpawner": {"home_dir_template": f"{root / 'homes'}/{{username}}"},
            "Spawner": {"cmd": [sys.executable, str(root / "fake_server.py")], "http_timeout": 15},
        }


class LocalHub(hub.LocalHub):
    """A JupyterHub process with stand-in servers; ``start()`` returns once it answers."""

    def __init__(self, workdir: Path | None = None, *, service_name: str = SERVICE_NAME) -> None:
        root = Path(workdir or tempfile.mkdtemp(prefix="localhub-"))
        super().__init__(root, spawner=StandInServers(), service_name=service_name)

    @property
    def workdir(self) -> Path:
        return self.root

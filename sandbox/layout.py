"""Where the sandbox keeps things (all under one root, ``.sandbox/`` by default) and its state file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The project root: sandbox/layout.py -> sandbox -> root.
PROJECT = Path(__file__).resolve().parents[1]

# Data repos in the sandbox are served from local git repositories: an https URL on this reserved host
# (RFC 2606: '.invalid' never resolves) maps to ROOT/repos/PATH. It passes the API's https-only rule
# unchanged, so the same requests work against AWS and the sandbox.
GIT_HOST = "git.sandbox.invalid"
GIT_PREFIX = f"https://{GIT_HOST}/"

# Fake account and names the seeded resources use (moto accepts any).
ACCOUNT = "123456789012"


# moto's key, in the aws/ folder (0600 in a 0700 folder): moto answers requests signed with it only.
CREDENTIALS_FILE = "credentials"


def read_credentials(aws_dir: Path) -> dict[str, str]:
    """The sandbox's AWS access key: {"access_key_id": ..., "secret_access_key": ...}."""
    data = json.loads((aws_dir / CREDENTIALS_FILE).read_text(encoding="utf-8"))
    return {"access_key_id": str(data["access_key_id"]), "secret_access_key": str(data["secret_access_key"])}


def default_root() -> Path:
    # Installed from the wheel (pip, pipx, uv tool), PROJECT is site-packages: the project is where you are.
    project = PROJECT if (PROJECT / "pyproject.toml").is_file() else Path.cwd()
    return Path(os.environ.get("SANDBOX_DIR") or project / ".sandbox").resolve()


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def token_file(self) -> Path:
        return self.root / "api-token"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    @property
    def hub_token_file(self) -> Path:
        # The hub's service token; on TLJH only root reads it, here only the sandbox's user.
        return self.hub_dir / "service-token"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    @property
    def skel(self) -> Path:
        return self.root / "skel"

    @property
    def data_root(self) -> Path:
        return self.root / "srv" / "data"

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def user_env(self) -> Path:
        return self.root / "user-env"

    @property
    def ready_marker(self) -> Path:
        return self.root / "tljh-installed"

    @property
    def config_yaml(self) -> Path:
        return self.root / "workshop.yaml"

    @property
    def config_json(self) -> Path:
        return self.root / "workshop.json"

    @property
    def clock_file(self) -> Path:
        return self.root / "clock.json"

    @property
    def server_pids(self) -> Path:
        # One file a running single-user server, written by the spawner (a backstop for `down`).
        return self.run / "servers"

    @property
    def groups(self) -> Path:
        # One file per process group `up` started (and the hub's proxy): outlives state.json.
        return self.run / "groups"

    @property
    def aws_dir(self) -> Path:
        # moto's kept state (snapshot and log) and the sandbox's AWS key.
        return self.root / "aws"

    @property
    def executions(self) -> Path:
        # The worker's durable executions (the SDK's file store): an operation resumes after a crash.
        return self.root / "executions"

    @property
    def password_state(self) -> Path:
        return self.root / "tljh" / "state"

    @property
    def sheets(self) -> Path:
        # `hubctl --sandbox users add --passwords` writes its sheet here: a clean start deletes it.
        return self.root / "hub-passwords"

    @property
    def disk_file(self) -> Path:
        return self.root / "disk.json"

    @property
    def private(self) -> tuple[Path, ...]:
        """Folders only the sandbox's own user may enter (0700): state, logs, keys, the hub's
        database, cookie secret and password store. Participants' unix users reach none of it."""
        return (
            self.logs,
            self.run,
            self.hub_dir,
            self.aws_dir,
            self.executions,
            self.password_state,
            self.sheets,
        )

    def aws_credentials(self) -> dict[str, str]:
        """moto's key (read by whoever ran `up`: root-only when `up` ran as root)."""
        path = self.aws_dir / CREDENTIALS_FILE
        try:
            return read_credentials(self.aws_dir)
        except (OSError, ValueError, KeyError) as err:
            raise RuntimeError(
                f"cannot read the sandbox's AWS key {path} ({err}): run this as the user who ran `make up`"
            ) from None

    def local_repo(self, url: str) -> Path | None:
        """The local repository an https://git.sandbox.invalid/... URL stands for (None for other URLs)."""
        if not url.startswith(GIT_PREFIX):
            return None
        return self.repos / url.removeprefix(GIT_PREFIX).rstrip("/")

    def read_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an older sandbox keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(state, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

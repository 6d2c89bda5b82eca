"""The sandbox's spawner: each hub user gets a real JupyterLab in ``HOMES/jupyter-NAME``.

As TLJH does, when the sandbox runs as root (``system_users``): each hub user is the unix user
``jupyter-NAME`` (names of 26+ characters cut and hashed as TLJH does), created at the first spawn with
its home made from the sandbox's skel (so data links hubagent put there appear), owned by that user and
private (0700); the server runs as that user, so the shared data (root-owned) is read-only to it and
other homes are closed. Without root, every server runs as the sandbox's own user in the same layout.
Imported by the hub process only (it needs jupyterhub). Deleting a hub user leaves the unix user, as TLJH.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from traitlets import Bool, Unicode


def system_username(name: str) -> str:
    """TLJH's rule (tljh.user.generate_system_username, then the 'jupyter-' prefix)."""
    if len(name) >= 26:
        name = f"{name[:26]}-{hashlib.sha256(name.encode()).hexdigest()[:5]}"
    return f"jupyter-{name}"


def ensure_system_user(unix_name: str, home: Path, skel: Path | None) -> None:
    """The unix user with ``home`` (made from ``skel`` when new), owned by it and private."""
    try:
        pwd.getpwnam(unix_name)
        subprocess.run(["usermod", "--home", str(home), unix_name], check=True, capture_output=True)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/bash",
                "--user-group",
                unix_name,
            ],
            check=True,
            capture_output=True,
        )
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        if skel is not None and skel.is_dir():
            shutil.copytree(skel, home, symlinks=True)
        else:
            home.mkdir()
        entry = pwd.getpwnam(unix_name)
        for path in [home, *home.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    home.chmod(0o700)


class SandboxSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    skel_dir = Unicode("", config=True, help="copied into a home that does not exist yet")
    pid_dir = Unicode("", config=True, help="a pid file a running server, so `down` can stop leftovers")
    system_users = Bool(False, config=True, help="run each server as the unix user jupyter-NAME (needs root)")

    def _pid_file(self) -> Path:
        return Path(self.pid_dir) / f"{self.user.name}.pid"

    @property
    def unix_name(self) -> str:
        return system_username(self.user.name)

    async def start(self) -> Any:
        home = Path(self.home_dir)
        skel = Path(self.skel_dir) if self.skel_dir else None
        if self.system_users:
            ensure_system_user(self.unix_name, home, skel)
        elif not home.exists():
            home.parent.mkdir(parents=True, exist_ok=True)
            if skel is not None and skel.is_dir():
                shutil.copytree(skel, home, symlinks=True)
            else:
                home.mkdir()
        result = await super().start()
        if self.pid_dir:
            Path(self.pid_dir).mkdir(parents=True, exist_ok=True)
            self._pid_file().write_text(f"{self.pid}\n", encoding="utf-8")
        return result

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        if self.pid_dir:
            self._pid_file().unlink(missing_ok=True)

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        if self.system_users:
            return set_user_setuid(self.unix_name)  # type: ignore[no-any-return]
        return super().make_preexec_fn(name)  # type: ignore[no-any-return]

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        env["USER"] = self.unix_name
        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        # Under libfaketime (make test-future) a server keeps the hub's clock, or its cookies expire at once.
        if os.environ.get("FAKETIME"):
            env.update({k: os.environ[k] for k in FAKETIME_ENV if k in os.environ})
        return env


FAKETIME_ENV = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_CACHE_DURATION")

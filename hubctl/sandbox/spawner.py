"""The sandbox's spawner: each hub user gets a real JupyterLab, run as the current unix user.

TLJH runs each user's server as the unix user ``jupyter-NAME`` with a home made from /etc/skel at the
first spawn. The sandbox keeps the layout (``HOMES/jupyter-NAME``, copied from the sandbox's skel at the
first spawn, so data links hubagent put in skel appear) without creating unix users. Imported by the
hub process only (it needs jupyterhub).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Unicode


class SandboxSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    skel_dir = Unicode("", config=True, help="copied into a home that does not exist yet")
    pid_dir = Unicode("", config=True, help="a pid file a running server, so `down` can stop leftovers")

    def _pid_file(self) -> Path:
        return Path(self.pid_dir) / f"{self.user.name}.pid"

    async def start(self) -> Any:
        home = Path(self.home_dir)
        if not home.exists():
            home.parent.mkdir(parents=True, exist_ok=True)
            if self.skel_dir and Path(self.skel_dir).is_dir():
                shutil.copytree(self.skel_dir, home, symlinks=True)
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

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        env["USER"] = f"jupyter-{self.user.name}"
        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        return env

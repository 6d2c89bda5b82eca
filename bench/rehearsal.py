"""What `hubctl rehearse` costs on the hub, step by step (hubagent's rehearse begin / notebook / end through
the SSM documents' scripts), against a real JupyterHub whose users get real JupyterLab servers, on the
rehearsal's example material plus a notebook that allocates a known 200 MiB: the time of each command,
the peak the rehearsal reports for that allocation over its kernel's baseline, and the longest result line
(SSM keeps 24,000 characters).

    .venv/bin/python bench/rehearsal.py [--cell-timeout 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "agent"), str(ROOT / "lambdas")]

from workshop_hub.adapters.local_commands import LocalCommands  # noqa: E402

from sandbox import prepare  # noqa: E402
from sandbox.hub import LocalHub, SpawnSettings  # noqa: E402
from sandbox.layout import GIT_PREFIX, Layout  # noqa: E402

MATERIAL = ROOT / "sandbox" / "examples" / "rehearsal"
MIB = 1024**2
ALLOCATE = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": src}
        for src in ("blob = b'\\x01' * (200 * 1024 * 1024)", "len(blob)")
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 4,
}


def commit(folder: Path) -> None:
    prepare.git(folder, "init", "--quiet", "--initial-branch=main")
    prepare.git(folder, "add", "--all")
    prepare.git(
        folder, "-c", "user.name=b", "-c", "user.email=b@localhost", "commit", "--quiet", "-m", "bench"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell-timeout", default="5")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-rehearsal-", dir="/tmp"))
    root.chmod(0o755)
    try:
        layout = Layout(root)
        prepare.user_env(layout)
        prepare.skel(layout)
        agent = prepare.agent_dir(layout)
        course = layout.repos / "course"
        shutil.copytree(MATERIAL / "notebooks", course)
        (course / "00-allocate.ipynb").write_text(json.dumps(ALLOCATE))
        commit(course)
        shutil.copytree(MATERIAL / "data", layout.repos / "treedata")
        commit(layout.repos / "treedata")
        system_users = os.geteuid() == 0 and shutil.which("useradd") is not None
        hub = LocalHub(
            layout.hub_dir,
            spawner=SpawnSettings(
                homes=layout.homes,
                skel=layout.skel,
                pid_dir=layout.server_pids,
                cmd=[str(layout.user_env / "bin" / "python"), "-m", "jupyterhub.singleuser"],
                environment=prepare.spawn_environment(layout),
                system_users=system_users,
            ),
        )
        commands = LocalCommands(
            agent=agent,
            environ={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HUBAGENT_HUB_API": hub.api_url,
                "HUBAGENT_PROXY_URL": hub.base_url,
                "HUBAGENT_TOKEN_FILE": str(hub.token_file),
                "HUBAGENT_DATA_ROOT": str(layout.data_root),
                "HUBAGENT_SKEL": str(layout.skel),
                "HUBAGENT_HOMES": str(layout.homes),
                "HUBAGENT_ALLOW_LOCAL_REPOS": "1",
            },
            instance_state=lambda: "running",
            repo_map=lambda url: str(layout.repos / url.removeprefix(GIT_PREFIX)),
        )
        participant, repo = "rehearsal--bench0", f"{GIT_PREFIX}course"
        longest = 0
        allocation = "not measured"

        def timed(label: str, action: str, **params: str) -> dict[str, Any]:
            nonlocal longest
            started = time.perf_counter()
            result = commands.run(action, params, 600)
            longest = max(longest, len(json.dumps(result)))
            print(f"{label:<48} {time.perf_counter() - started:6.2f} s")
            return result

        with hub:
            print(f"users' servers: {'real unix users (root)' if system_users else 'this user'}")
            commands.run("data-sync", {"Name": "treedata", "Repo": f"{GIT_PREFIX}treedata", "Ref": ""}, 600)
            total = time.perf_counter()
            begun = timed(
                "begin (create, spawn, log in, follow the link)",
                "rehearse-begin",
                Participant=participant,
                Repo=repo,
            )
            for index, listed in enumerate(begun["notebooks"]):
                done = timed(
                    f"notebook {listed['name']}",
                    "rehearse-notebook",
                    Participant=participant,
                    Repo=repo,
                    Index=str(index),
                    CellTimeout=args.cell_timeout,
                )
                if listed["name"] == "00-allocate.ipynb":
                    grown = (done["peak_bytes"] - done["baseline_bytes"]) / MIB
                    allocation = (
                        f"{grown:.1f} MiB over a baseline of {int(done['baseline_bytes']) / MIB:.1f} MiB"
                    )
            timed("end (stop the server, remove the participant)", "rehearse-end", Participant=participant)
            print(f"{'whole rehearsal':<48} {time.perf_counter() - total:6.2f} s")
            print(f"a 200 MiB allocation measured at {allocation}")
            print(f"longest result line: {longest} characters (SSM keeps 24,000)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

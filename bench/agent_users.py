"""What `hubagent users add` costs for 100 names against a local JupyterHub, next to one direct bulk
REST POST of 100 other names (the floor: hubagent makes that same single request).

    .venv/bin/python bench/agent_users.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "agent")]

from stacks import bundles  # noqa: E402
from tests.support.localhub import LocalHub  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        work = Path(tmp)
        agent_zip = bundles.build_agent_zip(work / "hubagent.zip")
        started = time.perf_counter()
        with LocalHub(work / "hub") as hub:
            print(f"hub start:                         {time.perf_counter() - started:6.2f} s")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HUBAGENT_HUB_API": hub.api_url,
                "HUBAGENT_TOKEN_FILE": str(hub.token_file),
            }
            python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
            names = " ".join(f"bench-agent-{i:03d}" for i in range(100))

            started = time.perf_counter()
            done = subprocess.run(
                [python, "-I", str(agent_zip), "users", "add", "--", names],
                env=env,
                capture_output=True,
                text=True,
            )
            agent_s = time.perf_counter() - started
            result = json.loads(done.stdout)
            assert result["ok"] and len(result["created"]) == 100, result

            started = time.perf_counter()
            status, created = hub.api(
                "POST", "/users", {"usernames": [f"bench-rest-{i:03d}" for i in range(100)]}
            )
            rest_s = time.perf_counter() - started
            assert status == 201 and len(created) == 100

            started = time.perf_counter()
            again = subprocess.run(
                [python, "-I", str(agent_zip), "users", "add", "--", names],
                env=env,
                capture_output=True,
                text=True,
            )
            again_s = time.perf_counter() - started
            assert json.loads(again.stdout)["changed"] is False

            started = time.perf_counter()
            subprocess.run(
                [python, "-I", str(agent_zip), "users", "list"], env=env, capture_output=True, check=True
            )
            list_s = time.perf_counter() - started

            print(f"hubagent users add, 100 new names: {agent_s:6.2f} s")
            print(f"direct bulk POST, 100 new names:   {rest_s:6.2f} s")
            print(f"ratio hubagent / REST:             {agent_s / rest_s:6.2f}")
            print(f"hubagent users add, 100 existing:  {again_s:6.2f} s")
            print(f"hubagent users list, 201 users:    {list_s:6.2f} s")


if __name__ == "__main__":
    main()

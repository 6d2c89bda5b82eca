"""The sandbox end to end, measured in one run:

* ``up`` from nothing (a fresh sandbox folder: user environment, git repos, moto seeded, hub, API);
* 100 users added end to end: the ``hubctl`` program -> the API (bearer token) -> the API handler ->
  DynamoDB (moto) -> the worker -> the SSM document's script -> hubagent -> the hub's REST API,
  until hubctl has seen the operation succeed;
* the same 100 users (other names) added by one direct REST call to the same hub (the floor);
* ``down``.

The ratio of the two is the control plane's overhead. hubctl polls the operation every
HUBCTL_POLL_SECONDS (2 s by default; 0.1 s here, so the poll interval is not what is measured).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubctl.sandbox.layout import Layout  # noqa: E402

USERS = 100
CONFIG = {
    "hub": {"name": "bench-hub", "region": "eu-west-1", "instance_type": "t3.medium", "volume_gib": 30},
    "packages": {"pip": [], "conda": []},
    "data_repos": [{"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller"}],
}


def sandbox(root: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hubctl.sandbox", *args, "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sandbox {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        root = Path(tmp) / "sandbox"
        config = Path(tmp) / "workshop.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        up_s, _ = sandbox(root, "up", "--config", str(config))
        layout = Layout(root)
        state = layout.read_state()
        assert state is not None
        try:
            env = {
                **os.environ,
                "HUBCTL_SANDBOX": "1",
                "HUBCTL_API_URL": state["api_url"],
                "HUBCTL_TOKEN_FILE": str(layout.token_file),
                "HUBCTL_POLL_SECONDS": "0.1",
            }
            hubctl = Path(sys.executable).parent / "hubctl"
            names = [f"participant{i:03d}" for i in range(USERS)]
            started = time.perf_counter()
            done = subprocess.run(
                [str(hubctl), "--sandbox", "-o", "json", "users", "add", *names],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            e2e_s = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"hubctl users add failed:\n{done.stdout}{done.stderr}")
            op = json.loads(done.stdout[done.stdout.index("{") :])
            assert len(op["result"]["created"]) == USERS, op["result"]
            steps = {s["name"]: s for s in op["steps"]}

            token = layout.hub_token_file.read_text().strip()
            direct_names = [f"direct{i:03d}" for i in range(USERS)]
            request = urllib.request.Request(  # noqa: S310 (the sandbox hub's http URL)
                f"{state['hub_api_url']}/users",
                data=json.dumps({"usernames": direct_names}).encode(),
                method="POST",
                headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310
                created = json.loads(reply.read())
            direct_s = time.perf_counter() - started
            assert len(created) == USERS
        finally:
            down_s, _ = sandbox(root, "down")

    print(f"sandbox up (cold, fresh folder)          {up_s:6.2f} s   phases: {state.get('up_timings')}")
    print(f"{USERS} users end to end (hubctl ... hub)    {e2e_s:6.2f} s")
    print(f"  of which the users-add step (hubagent) {_step_s(steps.get('users-add')):6.2f} s")
    print(f"{USERS} users by one direct hub REST call    {direct_s:6.2f} s")
    print(f"ratio end to end / direct                {e2e_s / direct_s:6.1f} x")
    print(f"sandbox down                             {down_s:6.2f} s")


def _step_s(step: dict[str, str] | None) -> float:
    if not step or not step.get("started_at") or not step.get("ended_at"):
        return float("nan")
    from datetime import datetime

    return (
        datetime.fromisoformat(step["ended_at"]) - datetime.fromisoformat(step["started_at"])
    ).total_seconds()


if __name__ == "__main__":
    main()

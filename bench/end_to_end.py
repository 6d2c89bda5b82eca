"""The sandbox end to end, measured in one run:

* a burst: 200 single-user POST /users from 50 parallel clients until all are on the hub, against one
  bulk REST call of 200 names to the same hub (ratio), with the API's p50/p95 answer time;

* ``up`` from nothing (a fresh sandbox folder: user environment, git repos, moto seeded, hub, API);
* ``up`` again after ``down``, on the state it kept (the roster and history the run below left);
* a SIGKILL of every process group ``up`` started, and the time until the next ``up`` has the sandbox
  working again (the orphaned proxy stopped first);
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
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import procs  # noqa: E402
from sandbox.layout import Layout  # noqa: E402

USERS = 100
BURST = 200  # participants registering at once, one request each
CLIENTS = 50  # ... from this many clients in parallel
CONFIG = {
    "hub": {"name": "bench-hub", "region": "eu-west-1", "instance_type": "t3.medium", "volume_gib": 30},
    "packages": {"pip": [], "conda": []},
    "data_repos": [{"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller"}],
}


def sandbox(root: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", *args, "--root", str(root)],
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
            steps = {s["name"].split(" (")[0]: s for s in op["steps"]}

            token = layout.hub_token_file.read_text().strip()
            direct_s = _direct(state, token, [f"direct{i:03d}" for i in range(USERS)])
            burst = _burst(state, layout)
            bulk_s = _direct(state, token, [f"bulk{i:03d}" for i in range(BURST)])
        finally:
            down_s, _ = sandbox(root, "down")
        warm_s, _ = sandbox(root, "up", "--config", str(config))
        warm_state = layout.read_state() or {}
        killed = time.perf_counter()
        for group in procs.recorded(layout.groups):
            if group.what in ("moto", "hub", "control"):
                procs.kill(group.pgid)
        sandbox(root, "up", "--config", str(config))
        crash_up_s = time.perf_counter() - killed
        sandbox(root, "down")

    print(f"sandbox up (cold, fresh folder)          {up_s:6.2f} s   phases: {state.get('up_timings')}")
    print(
        f"sandbox up (warm: {USERS + BURST} kept on the roster)  {warm_s:6.2f} s   "
        f"phases: {warm_state.get('up_timings')}"
    )
    print(
        f"SIGKILL of every group to a working up   {crash_up_s:6.2f} s   (up stops the orphaned proxy first)"
    )
    print(f"{USERS} users end to end (hubctl ... hub)    {e2e_s:6.2f} s")
    print(f"  of which the users-add step (hubagent) {_step_s(steps.get('users-add admin=false')):6.2f} s")
    print(f"{USERS} users by one direct hub REST call    {direct_s:6.2f} s")
    print(f"ratio end to end / direct                {e2e_s / direct_s:6.1f} x")
    print(
        f"burst: {BURST} concurrent single-user POST /users ({CLIENTS} clients) until all on the hub "
        f"{burst['total_s']:6.2f} s  ({len(burst['syncs'])} roster syncs)"
    )
    print(f"  API answer time p50 / p95               {burst['p50_ms']:6.0f} / {burst['p95_ms']:.0f} ms")
    print(f"{BURST} users by one direct hub REST call    {bulk_s:6.2f} s")
    print(f"ratio burst / direct                     {burst['total_s'] / bulk_s:6.1f} x")
    print(f"sandbox down                             {down_s:6.2f} s")


def _direct(state: dict[str, Any], token: str, names: list[str]) -> float:
    """Seconds for one bulk REST call creating ``names`` on the hub: the baseline."""
    request = urllib.request.Request(  # noqa: S310 (the sandbox hub's http URL)
        f"{state['hub_api_url']}/users",
        data=json.dumps({"usernames": names}).encode(),
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310
        assert len(json.loads(reply.read())) == len(names)
    return time.perf_counter() - started


def _burst(state: dict[str, Any], layout: Layout) -> dict[str, Any]:
    """BURST participants registering at once: one name per request, CLIENTS at a time, over HTTP."""
    from concurrent.futures import ThreadPoolExecutor

    token = layout.token_file.read_text().strip()

    def call(method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the sandbox API's http URL)
            f"{state['api_url']}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310
            return json.loads(reply.read())

    def register(name: str) -> tuple[float, str]:
        began = time.perf_counter()
        answer = call("POST", "/users", {"usernames": [name]})
        return time.perf_counter() - began, str(answer["operation_id"])

    names = [f"burst{i:03d}" for i in range(BURST)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(register, names))
    syncs = {op_id for _, op_id in answers}
    for op_id in syncs:
        while (op := call("GET", f"/operations/{op_id}"))["state"] not in ("succeeded", "failed"):
            time.sleep(0.1)
        if op["state"] != "succeeded":
            raise SystemExit(
                f"roster sync {op_id} failed: {op['error']}\n{json.dumps(op['steps'], indent=1)}"
            )
    total_s = time.perf_counter() - started
    on_hub = {u["username"] for u in call("GET", "/users")["users"] if u["on_hub"]}
    assert set(names) <= on_hub, sorted(set(names) - on_hub)[:5]
    latencies = sorted(seconds * 1000 for seconds, _ in answers)
    return {
        "total_s": total_s,
        "syncs": syncs,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1],
    }


def _step_s(step: dict[str, str] | None) -> float:
    if not step or not step.get("started_at") or not step.get("ended_at"):
        return float("nan")
    from datetime import datetime

    return (
        datetime.fromisoformat(step["ended_at"]) - datetime.fromisoformat(step["started_at"])
    ).total_seconds()


if __name__ == "__main__":
    main()

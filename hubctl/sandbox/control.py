"""Starting and stopping the sandbox's processes: moto's server, the hub, the control plane.

Each runs in its own process group (``start_new_session``), recorded in state.json, so ``down`` ends
exactly what ``up`` started, children included (the hub's proxy; users' servers via their pid files).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hubctl.files import write_secret
from hubctl.sandbox import aws, prepare
from hubctl.sandbox.hub import LocalHub, SpawnSettings, free_port, group_alive, stop_group
from hubctl.sandbox.layout import PROJECT, Layout

# Kept across `up`s: a cache, and the hub's port (so yesterday's links and QR codes still work).
KEEP = ("user-env", "hub-port")
DEFAULT_HUB_PORT = 8000
HUB_PORT_ENV = "SANDBOX_HUB_PORT"


class SandboxError(RuntimeError):
    pass


def alive(pid: int | None) -> bool:
    return bool(pid) and group_alive(int(pid or 0))


def running(layout: Layout) -> dict[str, Any] | None:
    """The state of a sandbox whose processes all run, or None."""
    state = layout.read_state()
    if not state or not state.get("pids"):
        return None
    pids = state["pids"]
    if all(alive(pids.get(name)) for name in ("moto", "hub", "control")):
        return state
    return None


def _clean(layout: Layout) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    for entry in layout.root.iterdir():
        if entry.name in KEEP:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for path in (
        layout.logs,
        layout.run,
        layout.hub_dir,
        layout.homes,
        layout.skel,
        layout.data_root,
        layout.repos,
        layout.server_pids,
    ):
        path.mkdir(parents=True, exist_ok=True)


def system_users_possible(layout: Layout) -> tuple[bool, str]:
    """Whether hub users can be real unix users here (as TLJH): root, useradd, and folders they can reach."""
    if os.geteuid() != 0:
        return False, "not root: every server runs as your own user, so data and homes are writable to all"
    if shutil.which("useradd") is None:
        return False, "no useradd on this machine: servers run as root"
    for path in (layout.root / "x", Path(sys.prefix) / "x", prepare.participant_python()):
        if not prepare.reachable_by_others(path):
            return (
                False,
                f"{path} is closed to other users (a folder on its way lacks o+x): servers run as root",
            )
    return True, "each hub user is the unix user jupyter-NAME: data read-only, homes private (0700)"


def _request(state: dict[str, Any], token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{state['ports']['api']}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as reply:  # noqa: S310
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def call(layout: Layout, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    state = layout.read_state()
    if not state:
        raise SandboxError("the sandbox is not running (make up)")
    return _request(state, layout.token_file.read_text(encoding="utf-8").strip(), method, path, body)


def _wait_api(
    state: dict[str, Any], token: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(f"the control plane exited with {proc.returncode}; see {log}")
        try:
            status, _ = _request(state, token, "GET", "/_sandbox/clock")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SandboxError(f"the control plane did not answer in {timeout_s:.0f} s; see {log}")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def hub_port(layout: Layout, asked: int | None) -> int:
    """The hub's port: ``asked`` (0: any free one), else $SANDBOX_HUB_PORT, else the one the last ``up``
    used (kept in ROOT/hub-port), else 8000 when free. The port chosen is kept for the next ``up``."""
    kept_file = layout.root / "hub-port"
    source = ""
    if asked is None and os.environ.get(HUB_PORT_ENV, "").strip():
        text = os.environ[HUB_PORT_ENV].strip()
        if not text.isdigit() or not 0 <= int(text) <= 65535:
            raise SandboxError(f"{HUB_PORT_ENV}: {text!r} must be a port number from 0 to 65535")
        asked, source = int(text), HUB_PORT_ENV
    elif asked is not None:
        source = "--hub-port"
    if asked is None and kept_file.is_file():
        text = kept_file.read_text(encoding="utf-8").strip()
        if text.isdigit():
            asked, source = int(text), f"the port of the last up ({kept_file})"
    if asked is None:
        port = DEFAULT_HUB_PORT if port_free(DEFAULT_HUB_PORT) else free_port()
    elif asked == 0:
        port = free_port()
    elif port_free(asked):
        port = asked
    else:
        raise SandboxError(
            f"the hub's port {asked} ({source}) is in use: stop what uses it, or choose another with "
            f"--hub-port N or {HUB_PORT_ENV}=N (0: any free port)"
        )
    kept_file.write_text(f"{port}\n", encoding="utf-8")
    return port


def up(layout: Layout, config_source: Path, *, port: int | None = None) -> dict[str, Any]:
    """Start everything in the background; returns the state (also in state.json)."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    if layout.read_state():
        down(layout)  # leftovers of a sandbox that died: end them before starting clean
    _clean(layout)
    from workshop_hub import config as workshop_config

    config_yaml = prepare.sandbox_config(config_source, layout)
    config = workshop_config.from_json(layout.config_json.read_text(encoding="utf-8"))
    ports = {"hub": hub_port(layout, port)}
    ports |= {name: free_port() for name in ("moto", "hub_api", "proxy_api", "api")}
    token = secrets.token_urlsafe(32)
    write_secret(layout.token_file, token + "\n")
    state: dict[str, Any] = {
        "root": str(layout.root),
        "ports": ports,
        "pids": {},
        "region": config.hub.region,
        "hub_name": config.hub.name,
        "config_source": str(config_source),
        "config": str(config_yaml),
    }
    system_users, users_note = system_users_possible(layout)
    state["system_users"] = system_users
    state["system_users_note"] = users_note
    layout.write_state(state)
    try:
        moto = aws.start_moto(ports["moto"], layout.logs / "moto.log")
        state["pids"]["moto"] = moto.pid
        layout.write_state(state)

        prepare.user_env(layout)
        prepare.skel(layout)
        prepare.agent_dir(layout)
        layout.ready_marker.write_text("sandbox\n", encoding="utf-8")  # TLJH's install finished
        (layout.root / "disk.json").write_text(
            json.dumps({"disk_gib": config.hub.volume_gib, "partition_gib": config.hub.volume_gib}),
            encoding="utf-8",
        )
        hub = LocalHub(
            layout.hub_dir,
            admin=config.hub.admin,
            password_db=prepare.tljh_hub(layout),
            port=ports["hub"],
            hub_port=ports["hub_api"],
            proxy_api_port=ports["proxy_api"],
            spawner=SpawnSettings(
                homes=layout.homes,
                skel=layout.skel,
                pid_dir=layout.server_pids,
                cmd=[str(layout.user_env / "bin" / "python"), "-m", "jupyterhub.singleuser"],
                environment=prepare.spawn_environment(layout),
                system_users=system_users,
                mem_limit=config.hub.memory_limit,
            ),
        )
        hub.start(wait=False)
        state["pids"]["hub"] = hub.pid
        layout.write_state(state)

        # The control plane imports its code while moto is seeded; it waits for the ids in state.json.
        control_log = layout.logs / "control.log"
        with control_log.open("ab") as log:
            control = subprocess.Popen(
                [sys.executable, "-m", "hubctl.sandbox", "serve", "--root", str(layout.root)],
                cwd=PROJECT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state["pids"]["control"] = control.pid
        layout.write_state(state)

        endpoint = f"http://127.0.0.1:{ports['moto']}"
        timings["processes started"] = time.monotonic() - started
        aws.wait_moto(endpoint, moto)
        timings["moto answers"] = time.monotonic() - started
        env = aws.aws_env(endpoint, config.hub.region)
        names = aws.Names(config.hub.name)
        seeded = aws.seed(config, names, env)
        state.update(
            instance_id=seeded.instance_id,
            volume_id=seeded.volume_id,
            schedule_group=names.schedule_group,
            table=names.table,
            hub_url=hub.base_url,
            hub_api_url=hub.api_url,
            api_url=f"http://127.0.0.1:{ports['api']}",
            moto_url=endpoint,
            lambda_env=aws.environ_for_lambdas(config, names, seeded, env, hub.base_url, layout.config_json),
        )
        layout.write_state(state)
        timings["moto seeded"] = time.monotonic() - started
        hub.wait_ready(90)
        timings["hub answers"] = time.monotonic() - started
        _wait_api(state, token, control, control_log)
        timings["API answers"] = time.monotonic() - started
    except BaseException:
        down(layout)
        raise
    state["up_seconds"] = round(time.monotonic() - started, 2)
    state["up_timings"] = {name: round(seconds, 2) for name, seconds in timings.items()}
    layout.write_state(state)
    (layout.root / "env").write_text(env_text(layout, state), encoding="utf-8")
    return state


def env_text(layout: Layout, state: dict[str, Any]) -> str:
    """Shell lines that point hubctl at the sandbox (``. .sandbox/env``)."""
    return (
        "export HUBCTL_SANDBOX=1\n"
        f"export HUBCTL_API_URL={state['api_url']}\n"
        f"export HUBCTL_TOKEN_FILE={layout.token_file}\n"
        f"export HUBCTL_HUB_URL={state['hub_url']}\n"
    )


def down(layout: Layout) -> list[str]:
    """Stop what ``up`` recorded (control plane, hub and its users' servers, moto); returns what was running."""
    state = layout.read_state() or {}
    pids: dict[str, int] = state.get("pids") or {}
    stopped = []
    for name in ("control", "hub"):
        pid = pids.get(name)
        if pid and stop_group(pid, timeout_s=20):
            stopped.append(name)
    if layout.server_pids.is_dir():
        for pid_file in layout.server_pids.glob("*.pid"):
            try:
                pid = int(pid_file.read_text(encoding="utf-8").strip())
            except ValueError:
                pid = 0
            if pid and stop_group(pid, timeout_s=5):
                stopped.append(f"server {pid_file.stem}")
            pid_file.unlink(missing_ok=True)
    pid = pids.get("moto")
    if pid and stop_group(pid, timeout_s=10):
        stopped.append("moto")
    layout.state_file.unlink(missing_ok=True)
    layout.token_file.unlink(missing_ok=True)
    (layout.root / "env").unlink(missing_ok=True)
    return stopped


def _wait_operation(state: dict[str, Any], token: str, op_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, op = _request(state, token, "GET", f"/operations/{op_id}")
        if status == 200 and op.get("state") in ("succeeded", "failed"):
            return dict(op)
        time.sleep(0.5)
    return {"id": op_id, "state": "running", "error": f"still running after {timeout_s:.0f} s"}


def _submit_and_wait(
    state: dict[str, Any], token: str, path: str, body: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """One change through the API, as hubctl sends it; when another operation holds the hub, after it."""
    for _ in range(5):
        status, answer = _request(state, token, "POST", path, body)
        if status == 202:
            return _wait_operation(state, token, str(answer["operation_id"]), timeout_s)
        if status == 409 and answer.get("operation_id"):
            _wait_operation(state, token, str(answer["operation_id"]), timeout_s)
            continue
        return {
            "state": "failed",
            "error": f"{status}: {answer.get('error') if isinstance(answer, dict) else answer}",
        }
    return {"state": "failed", "error": "the hub stayed busy with other operations"}


def apply_workshop(
    layout: Layout, state: dict[str, Any], timeout_s: float = 900
) -> list[tuple[str, dict[str, Any]]]:
    """workshop.yaml's data repos and pip packages, applied through the API (what the first boot does on
    the instance); (what, operation) for each. conda packages need mamba, which the sandbox lacks."""
    from workshop_hub import config as workshop_config

    config = workshop_config.from_json(layout.config_json.read_text(encoding="utf-8"))
    token = layout.token_file.read_text(encoding="utf-8").strip()
    done: list[tuple[str, dict[str, Any]]] = []
    for repo in config.data_repos:
        done.append(
            (
                f"data {repo.name}",
                _submit_and_wait(state, token, "/data/sync", {"name": repo.name}, timeout_s),
            )
        )
    if config.packages.pip:
        body = {"packages": list(config.packages.pip), "manager": "pip"}
        done.append(
            (
                f"pip {' '.join(config.packages.pip)}",
                _submit_and_wait(state, token, "/packages", body, timeout_s),
            )
        )
    return done

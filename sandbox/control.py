"""Starting and stopping the sandbox's processes (moto's server, the hub, the control plane), and
what survives them.

Each runs in its own process group (``start_new_session``), recorded in run/groups/ (procs.py) and
marked in its environment, so ``down`` ends exactly what ``up`` started, children included (the hub's
proxy, users' servers, hubagent runs), also after a crash that left no state.json.

What ``up`` is given stays: the AWS state (moto's snapshot and log in aws/: roster, desired state,
operations, the instance, its volume and snapshots, schedules), the durable executions, the hub's
database, cookie secret and password store, the participants' homes, the data, the instructor's own
repositories in repos/, the user environment, the clock and the hub's port. Only ``clean`` (``make
clean-sandbox``, or ``up --clean``) deletes them, and says what it deletes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hubagent.files import write_secret
from workshop_hub import config as workshop_config

from sandbox import aws, prepare, procs, tls
from sandbox.hub import LocalHub, SpawnSettings, free_port
from sandbox.layout import Layout

DEFAULT_HUB_PORT = 8000
HUB_PORT_ENV = "SANDBOX_HUB_PORT"
# Kept by a clean start too: the hub's address, so links and QR codes handed out stay valid, and the
# certificate authority, so a browser told to trust it goes on trusting the hub.
KEPT_BY_CLEAN = ("hub-port", "tls")
# What each entry of the sandbox's folder holds, for `clean` to say what it deletes.
CONTENTS = {
    "aws": "the AWS state: roster, desired state (data repos, packages), operation history, the "
    "instance, its volume, snapshots and schedules",
    "executions": "the worker's durable executions",
    "hub": "the hub's database, cookie secret and log",
    "tljh": "the participants' passwords (FirstUse's store)",
    "homes": "the participants' homes",
    "srv": "the synced data repos",
    "repos": "the local git repositories (your own material included)",
    "user-env": "the participants' environment and the packages installed into it",
    "hub-passwords": "the password sheets written with --sandbox",
    "logs": "the logs",
    "clock.json": "the sandbox clock's offset",
    "disk.json": "the pretend root disk's size",
}


class SandboxError(RuntimeError):
    pass


def prepare_folders(layout: Layout) -> None:
    """The folders ``up`` needs, the private ones 0700 (also when an older sandbox made them 0755)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    for path in (layout.homes, layout.skel, layout.data_root, layout.repos, layout.server_pids):
        path.mkdir(parents=True, exist_ok=True)
    for path in layout.private:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    for path in (layout.state_file, layout.token_file, layout.clock_file):
        if path.exists():
            path.chmod(0o600)


def clean(layout: Layout) -> list[tuple[str, str]]:
    """Stop what runs, then delete everything the sandbox keeps but the hub's port; returns (entry,
    what it held) for each entry deleted. Unix users jupyter-NAME stay (another sandbox on this
    machine may share them); `userdel` removes them."""
    stop_all(layout)
    removed: list[tuple[str, str]] = []
    if not layout.root.is_dir():
        return removed
    for entry in sorted(layout.root.iterdir()):
        if entry.name in KEPT_BY_CLEAN:
            continue
        removed.append((entry.name, CONTENTS.get(entry.name, "")))
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return removed


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
    """Whether the proxy could listen on ``port``: bound as node binds it, with SO_REUSEADDR, so the
    TIME_WAIT connections a stopped hub leaves for a minute do not count, and a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    """Start everything in the background, on what the last run kept; returns the state (also in
    state.json). What a crashed run left running is stopped first."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    leftovers = stop_all(layout)
    prepare_folders(layout)
    config_yaml = prepare.sandbox_config(config_source, layout)
    config = workshop_config.from_json(layout.config_json.read_text(encoding="utf-8"))
    # "hub": the public port, the TLS front's; "proxy": the hub's proxy behind it (plain HTTP).
    ports = {"hub": hub_port(layout, port)}
    ports |= {name: free_port() for name in ("proxy", "moto", "hub_api", "proxy_api", "api")}
    issued = tls.ensure(layout.tls)
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
        "stopped_leftovers": leftovers,
        "hub_url": f"https://127.0.0.1:{ports['hub']}",
        "ca_file": str(issued.files.ca_cert),
        "ca_fingerprint": issued.ca_fingerprint,
        "ca_made": issued.ca_made,
    }
    system_users, users_note = system_users_possible(layout)
    state["system_users"] = system_users
    state["system_users_note"] = users_note
    layout.write_state(state)
    marked = procs.mark(layout.root)
    try:
        moto = aws.start_moto(ports["moto"], layout, marked)
        _started(layout, state, "moto", moto.pid)

        prepare.user_env(layout)
        prepare.skel(layout)
        prepare.agent_dir(layout)
        layout.ready_marker.write_text("sandbox\n", encoding="utf-8")  # TLJH's install finished
        if not layout.disk_file.is_file():  # the pretend disk keeps what a grow made of it
            layout.disk_file.write_text(
                json.dumps({"disk_gib": config.hub.volume_gib, "partition_gib": config.hub.volume_gib}),
                encoding="utf-8",
            )
        hub = LocalHub(
            layout.hub_dir,
            admin=config.hub.admin,
            password_db=prepare.tljh_hub(layout),
            port=ports["proxy"],
            hub_port=ports["hub_api"],
            proxy_api_port=ports["proxy_api"],
            environment=marked,
            behind_front=True,
            spawner=SpawnSettings(
                homes=layout.homes,
                skel=layout.skel,
                pid_dir=layout.server_pids,
                cmd=[str(layout.user_env / "bin" / "python"), "-m", "jupyterhub.singleuser"],
                environment={**prepare.spawn_environment(layout), **marked},
                system_users=system_users,
                mem_limit=config.hub.memory_limit,
            ),
        )
        hub.start(wait=False)
        _started(layout, state, "hub", hub.pid or 0)
        front = start_front(layout, ports["hub"], ports["proxy"], issued.files, marked)
        _started(layout, state, "front", front.pid)

        # The control plane imports its code while moto is seeded; it waits for the ids in state.json.
        control_log = layout.logs / "control.log"
        control = procs.start_module(["sandbox", "serve", "--root", str(layout.root)], control_log, marked)
        _started(layout, state, "control", control.pid)

        endpoint = f"http://127.0.0.1:{ports['moto']}"
        timings["processes started"] = time.monotonic() - started
        aws.wait_moto(endpoint, moto)
        timings["moto answers"] = time.monotonic() - started
        env = aws.aws_env(endpoint, config.hub.region)
        names = aws.Names(config.hub.name)
        seeded = aws.ensure_hub(config, names, {**env, **aws.key_env(layout)})
        state.update(
            instance_id=seeded.instance_id,
            volume_id=seeded.volume_id,
            aws_kept=not seeded.created,
            schedule_group=names.schedule_group,
            table=names.table,
            proxy_url=hub.base_url,
            hub_api_url=hub.api_url,
            api_url=f"http://127.0.0.1:{ports['api']}",
            moto_url=endpoint,
            lambda_env=aws.environ_for_lambdas(
                config, names, seeded, env, state["hub_url"], layout.config_json
            ),
        )
        layout.write_state(state)
        timings["moto seeded" if seeded.created else "kept AWS state found"] = time.monotonic() - started
        hub.wait_ready(90)
        _record_proxy(layout, hub)
        timings["hub answers"] = time.monotonic() - started
        wait_front(state["hub_url"], issued.files.ca_cert, front, layout.logs / "front.log")
        timings["https front answers"] = time.monotonic() - started
        _wait_api(state, token, control, control_log)
        timings["API answers"] = time.monotonic() - started
        status, recovery = _request(state, token, "GET", "/_sandbox/recovery")
        state["after_restart"] = recovery.get("after_restart", []) if status == 200 else []
    except BaseException:
        down(layout)
        raise
    state["up_seconds"] = round(time.monotonic() - started, 2)
    state["up_timings"] = {name: round(seconds, 2) for name, seconds in timings.items()}
    layout.write_state(state)
    (layout.root / "env").write_text(env_text(layout, state), encoding="utf-8")
    return state


def _started(layout: Layout, state: dict[str, Any], name: str, pid: int) -> None:
    state["pids"][name] = pid
    layout.write_state(state)
    procs.record(layout.groups, name, pid)


def start_front(
    layout: Layout, port: int, proxy_port: int, files: tls.TlsFiles, marked: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The TLS front on the hub's public port, forwarding to the hub's proxy as CloudFront does (front.py)."""
    return procs.start_module(
        [
            "sandbox.front",
            "--listen",
            str(port),
            "--upstream",
            str(proxy_port),
            "--cert",
            str(files.server_cert),
            "--key",
            str(files.server_key),
        ],
        layout.logs / "front.log",
        marked,
    )


def wait_front(
    url: str, ca_file: Path, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30
) -> None:
    """Until the hub answers at its https address, its certificate checked against the sandbox's CA."""
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(f"the HTTPS front exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/hub/api", timeout=5, context=context) as reply:  # noqa: S310
                if reply.status == 200:
                    return
        except (OSError, urllib.error.URLError) as err:
            last = str(err)
        time.sleep(0.1)
    raise SandboxError(f"the hub did not answer at {url} in {timeout_s:.0f} s ({last}); see {log}")


def _record_proxy(layout: Layout, hub: LocalHub) -> None:
    """The proxy runs in a group of its own (JupyterHub starts it so): record it too."""
    try:
        pid = int(hub.proxy_pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return
    procs.record(layout.groups, "proxy", pid)


def env_text(layout: Layout, state: dict[str, Any]) -> str:
    """Shell lines that point hubctl at the sandbox (``. .sandbox/env``)."""
    return (
        "export HUBCTL_SANDBOX=1\n"
        f"export HUBCTL_API_URL={state['api_url']}\n"
        f"export HUBCTL_TOKEN_FILE={layout.token_file}\n"
        f"export HUBCTL_HUB_URL={state['hub_url']}\n"
        f"export HUBCTL_HUB_CA_FILE={state['ca_file']}\n"
    )


def stop_all(layout: Layout) -> list[str]:
    """Stop every process of this sandbox, by its records and by its mark (procs.py): the control
    plane first (it stops starting things), the hub (it stops its users' servers and its proxy),
    what is left, and moto last (it writes its last snapshot on SIGTERM). Returns what ran."""
    order = {"control": 0, "front": 1, "hub": 1, "moto": 3}
    groups = {g.pgid: g.what for g in procs.marked(layout.root)}
    groups.update({g.pgid: g.what for g in procs.servers(layout.server_pids, layout.root)})
    groups.update({g.pgid: g.what for g in procs.recorded(layout.groups)})
    stopped = []
    for pgid, what in sorted(groups.items(), key=lambda item: (order.get(item[1], 2), item[0])):
        if procs.alive(pgid) and procs.stop(pgid, timeout_s=20 if what in order else 5):
            stopped.append(what if what in order else f"{what} ({pgid})")
    for folder in (layout.groups, layout.server_pids):
        for path in folder.glob("*") if folder.is_dir() else []:
            path.unlink(missing_ok=True)
    return stopped


def down(layout: Layout) -> list[str]:
    """Stop everything of this sandbox (also what a crashed run left); returns what was running.
    Nothing it keeps is deleted: the next ``up`` goes on from it."""
    stopped = stop_all(layout)
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

"""The sandbox keeps what it is given and survives a crash: real processes, a real `down` and a real
second `up`, a real SIGKILL of every process group it started (the proxy JupyterHub starts in a group
of its own is left running, as a crash leaves it).

One sandbox folder for the module, restarted by the tests in file order. An operation is caught in the
middle by freezing the hub (SIGSTOP) first: the worker then waits on it, and the SIGKILL lands while
the operation runs, every time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import aws, procs
from sandbox.hub import HubSession
from sandbox.layout import GIT_PREFIX, PROJECT, Layout
from sandbox.prepare import git
from sandbox.recovery import STOPPED_WHILE_RUNNING

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(
        not (PROJECT / "node_modules" / ".bin" / "configurable-http-proxy").exists(),
        reason="configurable-http-proxy is not installed (npm ci)",
    ),
]

CONFIG = {
    "hub": {
        "name": "crash-test",
        "region": "eu-west-1",
        "instance_type": "t3.medium",
        "volume_gib": 30,
        "admin": "instructor",
    },
    "packages": {"pip": [], "conda": []},
    "data_repos": [
        {"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller", "ref": "main"}
    ],
    "schedule": {"timezone": "Europe/Berlin", "night_stop": {"time": "22:00"}},
}
IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@localhost"]


def sandbox_cli(root: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args, "--root", str(root)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Running:
    """The sandbox as the last `up` left it (its ports and token change at every up)."""

    def __init__(self, root: Path, config: Path) -> None:
        self.layout = Layout(root)
        self.config = config
        self.up_output = ""

    def up(self, *extra: str) -> str:
        done = sandbox_cli(self.layout.root, "up", "--config", str(self.config), *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        self.up_output = done.stdout
        return done.stdout

    def down(self) -> str:
        done = sandbox_cli(self.layout.root, "down")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    @property
    def state(self) -> dict[str, Any]:
        state = self.layout.read_state()
        assert state is not None, "the sandbox is not running"
        return state

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{self.state['api_url']}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.layout.token_file.read_text().strip()}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def op(self, op_id: str) -> dict[str, Any]:
        status, op = self.http("GET", f"/operations/{op_id}")
        assert status == 200, op
        return dict(op)

    def wait_op(self, op_id: str, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            op = self.op(op_id)
            if op["state"] in ("succeeded", "failed"):
                return op
            time.sleep(0.2)
        raise AssertionError(f"operation {op_id} did not end in {timeout_s} s: {self.op(op_id)}")

    def wait_step(self, op_id: str, name: str, timeout_s: float = 60) -> dict[str, Any]:
        """Until the operation has a step called ``name`` (running or done)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            op = self.op(op_id)
            if any(step["name"].startswith(name) for step in op["steps"]):
                return op
            assert op["state"] not in ("succeeded", "failed"), op
            time.sleep(0.05)
        raise AssertionError(f"no step {name!r} in {op_id} after {timeout_s} s: {self.op(op_id)}")

    def wait_idle(self, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = self.http("GET", "/status")
            assert status == 200, body
            if body["operation_in_progress"] is None and not body["running"] and not body["waiting"]:
                return dict(body)
            time.sleep(0.3)
        raise AssertionError("an operation still holds the hub")

    def client(self, service: str) -> Any:
        return aws.client(service, self.layout, self.state)

    def hub_users(self) -> set[str]:
        token = self.layout.hub_token_file.read_text().strip()
        found: set[str] = set()
        offset = 0
        while True:
            req = urllib.request.Request(
                f"{self.state['hub_api_url']}/users?offset={offset}&limit=200",
                headers={
                    "Authorization": f"token {token}",
                    "Accept": "application/jupyterhub-pagination+json",
                },
            )
            with urllib.request.urlopen(req, timeout=30) as reply:
                page = json.loads(reply.read())
            found |= {u["name"] for u in page["items"]}
            if not page["_pagination"]["next"]:
                return found
            offset = page["_pagination"]["next"]["offset"]

    def groups(self) -> dict[str, int]:
        return {g.what: g.pgid for g in procs.recorded(self.layout.groups)}

    def crash(self) -> float:
        """SIGKILL every process group `up` started (moto, hub, control plane), as a crash would: the
        hub's proxy, in a group of its own, keeps running. Returns when it happened (monotonic)."""
        groups = self.groups()
        for name in ("moto", "hub", "control"):
            procs.kill(groups[name])
        killed = time.monotonic()
        for name in ("moto", "hub", "control"):
            deadline = time.monotonic() + 10
            while procs.alive(groups[name]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not procs.alive(groups[name]), name
        return killed

    def freeze_hub(self) -> None:
        os.killpg(self.groups()["hub"], signal.SIGSTOP)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    # Others may traverse it (pytest's tmp folders are root-only): as root, servers run as jupyter-NAME.
    root = Path(tempfile.mkdtemp(prefix="sandbox-crash-", dir="/tmp"))
    root.chmod(0o755)
    config = tmp_path_factory.mktemp("crash-config") / "workshop.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    running = Running(root / "sandbox", config)
    running.up("--hub-port", "0")
    try:
        yield running
    finally:
        sandbox_cli(running.layout.root, "down")
        assert not procs.marked(running.layout.root), "a process of the sandbox outlived down"
        shutil.rmtree(root, ignore_errors=True)


def test_down_and_up_keep_the_roster_history_passwords_data_sizes_and_your_own_repos(
    sandbox: Running,
) -> None:
    layout = sandbox.layout
    first = sandbox.state
    status, accepted = sandbox.http("POST", "/users", {"usernames": ["alice", "bob"]})
    assert status == 202 and sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"
    assert HubSession(first["hub_url"]).login("alice", "alice-own-password")  # her first password: kept

    mine = layout.repos / "mine"  # the instructor's own material
    mine.mkdir()
    git(mine, "init", "--quiet", "--initial-branch=main")
    (mine / "lesson.md").write_text("# lesson one\n")
    git(mine, "add", "lesson.md")
    git(mine, *IDENTITY, "commit", "--quiet", "-m", "mine")
    placeholder = layout.repos / "workshopdata"
    (placeholder / "extra.txt").write_text("added by the instructor\n")
    git(placeholder, "add", "extra.txt")
    git(placeholder, *IDENTITY, "commit", "--quiet", "-m", "extra")
    heads = {name: git(layout.repos / name, "rev-parse", "HEAD") for name in ("mine", "workshopdata")}
    status, accepted = sandbox.http("POST", "/data/sync", {"name": "mine", "repo": f"{GIT_PREFIX}mine"})
    assert status == 202 and sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"
    status, accepted = sandbox.http("POST", "/volume/grow", {"size_gib": 35})
    assert status == 202 and sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"
    sandbox.wait_idle()
    _, history = sandbox.http("GET", "/operations?limit=50")
    before = {op["id"]: op["state"] for op in history["operations"]}

    out = sandbox.down()
    assert "kept in" in out
    assert not layout.state_file.exists()
    sandbox.up()
    again = sandbox.state
    assert "with the state it kept" in sandbox.up_output
    assert "data workshopdata: ok" in sandbox.up_output

    assert again["instance_id"] == first["instance_id"] and again["volume_id"] == first["volume_id"]
    assert again["ports"]["hub"] == first["ports"]["hub"]
    _, roster = sandbox.http("GET", "/users")
    assert {u["username"]: u["on_hub"] for u in roster["users"]} == {"alice": True, "bob": True}
    assert {"alice", "bob"} <= sandbox.hub_users()  # JupyterHub's own database, not our records
    assert not HubSession(again["hub_url"]).login("alice", "someone-else-now")
    assert HubSession(again["hub_url"]).login("alice", "alice-own-password")
    _, history = sandbox.http("GET", "/operations?limit=100")
    after = {op["id"]: op["state"] for op in history["operations"]}
    assert all(after.get(op_id) == state for op_id, state in before.items()), (before, after)
    # the instructor's repositories, untouched; the data synced from them still there
    assert {name: git(layout.repos / name, "rev-parse", "HEAD") for name in heads} == heads
    assert (layout.data_root / "mine" / "lesson.md").read_text() == "# lesson one\n"
    data = sandbox.client("dynamodb").query(
        TableName=again["table"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "data"}},
    )["Items"]
    assert {item["sk"]["S"] for item in data} >= {"mine"}
    volume = sandbox.client("ec2").describe_volumes(VolumeIds=[again["volume_id"]])["Volumes"][0]
    assert volume["Size"] == 35
    assert json.loads(layout.disk_file.read_text())["disk_gib"] == 35


def test_up_right_after_down_takes_the_same_port_through_time_wait(sandbox: Running) -> None:
    port = sandbox.state["ports"]["hub"]
    # A connection the proxy closes first leaves a TIME_WAIT socket on the hub's port for a minute.
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /hub/api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while conn.recv(65536):
            pass
    sandbox.down()
    assert _time_wait_on(port), "no TIME_WAIT socket on the port: the test would prove nothing"
    sandbox.up()
    assert sandbox.state["ports"]["hub"] == port


def _time_wait_on(port: int) -> bool:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "06":
            return True
    return False


def test_after_a_sigkill_of_every_group_up_works_at_once_and_stops_the_orphaned_proxy(
    sandbox: Running,
) -> None:
    groups = sandbox.groups()
    proxy = groups["proxy"]
    killed = sandbox.crash()
    assert procs.alive(proxy)  # as after a real crash: the proxy holds the hub's port
    sandbox.up()
    working = time.monotonic() - killed
    assert not procs.alive(proxy)
    assert f"proxy ({proxy})" in sandbox.up_output
    status, body = sandbox.http("GET", "/status")
    assert status == 200 and body["hub_health"]["hub_ok"] is True, body
    print(f"SIGKILL to a working up: {working:.1f} s")


def test_down_after_a_sigkill_finds_and_stops_the_orphaned_proxy(sandbox: Running) -> None:
    proxy = sandbox.groups()["proxy"]
    sandbox.crash()
    out = sandbox.down()
    assert f"proxy ({proxy})" in out, out
    assert not procs.alive(proxy)
    assert not procs.marked(sandbox.layout.root)
    sandbox.up()


def test_a_resize_cut_short_by_a_sigkill_resumes_where_it_stopped(sandbox: Running) -> None:
    sandbox.wait_idle()
    sandbox.freeze_hub()  # the resize goes as far as "wait for hub health", and waits there
    status, accepted = sandbox.http("POST", "/instance/resize", {"instance_type": "t3.large", "force": True})
    assert status == 202, accepted
    op_id = accepted["operation_id"]
    cut = sandbox.wait_step(op_id, "wait for hub health")
    assert cut["state"] == "running"
    sandbox.crash()
    sandbox.up()
    assert f"resize {op_id}: resumed" in sandbox.up_output
    op = sandbox.wait_op(op_id)
    assert op["state"] == "succeeded", op
    names = [step["name"] for step in op["steps"]]
    assert names.count("stop instance") == 1 and names.count("start instance") == 1, names  # not done twice
    instance = sandbox.client("ec2").describe_instances(InstanceIds=[sandbox.state["instance_id"]])
    described = instance["Reservations"][0]["Instances"][0]
    assert (described["InstanceType"], described["State"]["Name"]) == ("t3.large", "running")
    body = sandbox.wait_idle()
    assert body["operation_in_progress"] is None  # the lease is free


def test_a_roster_sync_of_100_users_cut_short_by_a_sigkill_resumes_and_creates_them_all(
    sandbox: Running,
) -> None:
    sandbox.wait_idle()
    names = [f"crowd{i:03d}" for i in range(100)]
    sandbox.freeze_hub()  # the sync waits on the hub (users-list), and the SIGKILL lands there
    status, accepted = sandbox.http("POST", "/users", {"usernames": names})
    assert status == 202, accepted
    op_id = accepted["operation_id"]
    assert sandbox.wait_step(op_id, "users-list")["state"] == "running"
    sandbox.crash()
    sandbox.up()
    assert f"roster-sync {op_id}: resumed" in sandbox.up_output
    assert sandbox.wait_op(op_id)["state"] == "succeeded"
    _, roster = sandbox.http("GET", "/users")
    on_roster = {u["username"]: u["on_hub"] for u in roster["users"]}
    assert all(on_roster.get(name) is True for name in names)
    assert set(names) <= sandbox.hub_users()


def test_an_operation_whose_execution_is_lost_ends_failed_and_its_lease_and_sync_go_on(
    sandbox: Running,
) -> None:
    """The fallback when nothing can resume (here: the durable executions' files are gone): the
    operation fails with the reason, the lease is freed, and a new sync creates the recorded users."""
    sandbox.wait_idle()
    names = [f"late{i:02d}" for i in range(20)]
    sandbox.freeze_hub()
    status, accepted = sandbox.http("POST", "/users", {"usernames": names})
    assert status == 202, accepted
    sync_id = accepted["operation_id"]
    sandbox.wait_step(sync_id, "users-list")
    sandbox.crash()
    shutil.rmtree(sandbox.layout.executions)
    sandbox.up()
    assert f"roster-sync {sync_id}: failed ({STOPPED_WHILE_RUNNING})" in sandbox.up_output
    op = sandbox.op(sync_id)
    assert op["state"] == "failed" and op["error"].startswith(STOPPED_WHILE_RUNNING), op
    assert "the instance is running" in op["error"]
    started = [line for line in sandbox.up_output.splitlines() if "started for the roster entries" in line]
    assert started, sandbox.up_output
    follow_up = started[0].split("roster-sync ")[1].split(":")[0]
    assert sandbox.wait_op(follow_up)["state"] == "succeeded"
    assert set(names) <= sandbox.hub_users()
    assert sandbox.wait_idle()["operation_in_progress"] is None


def test_clean_starts_from_nothing_and_says_what_it_deletes(sandbox: Running) -> None:
    layout = sandbox.layout
    sheet = layout.sheets / "participants.csv"
    sheet.write_text("username,password\nalice,x\n")
    port = sandbox.state["ports"]["hub"]
    done = sandbox_cli(layout.root, "clean")
    assert done.returncode == 0, done.stdout + done.stderr
    for entry in ("aws", "homes", "repos", "hub", "hub-passwords"):
        assert f"  {entry}" in done.stdout, done.stdout
    assert not procs.marked(layout.root)
    assert not sheet.exists()  # the sheet goes with the users it lists
    sandbox.up()
    assert "from nothing" in sandbox.up_output
    assert sandbox.state["ports"]["hub"] == port  # the address stays
    _, roster = sandbox.http("GET", "/users")
    assert roster["users"] == []

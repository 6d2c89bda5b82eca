"""The local sandbox, end to end: `python -m sandbox up` in a temporary folder, then hubctl and
raw HTTP against it (the same handlers and domain as on AWS, moto's server, a real JupyterHub, hubagent
run as the SSM documents run it), then `down`.

One sandbox for the module (it takes ~15 s to start); the tests share it and run in file order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hubctl.cli import app as hubctl_app
from sandbox import aws
from sandbox.cli import next_local
from sandbox.hub import HubSession
from sandbox.layout import GIT_PREFIX, PROJECT, Layout
from sandbox.prepare import git, make_repo
from sandbox.procs import alive as group_alive

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(
        not (PROJECT / "node_modules" / ".bin" / "configurable-http-proxy").exists(),
        reason="configurable-http-proxy is not installed (npm ci)",
    ),
]

CONFIG = {
    "hub": {
        "name": "sandbox-test",
        "region": "eu-west-1",
        "instance_type": "t3.medium",
        "volume_gib": 30,
        "admin": "instructor",
    },
    # Nothing to install: a reconcile (after every start) stays fast and offline.
    "packages": {"pip": [], "conda": []},
    "data_repos": [
        {"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller", "ref": "main"}
    ],
    "notebooks": {"repo": "https://github.com/jupyterhub/nbgitpuller", "branch": "main"},
    "schedule": {
        "timezone": "Europe/Berlin",
        "night_stop": {"time": "22:00"},
        "active_minutes": 15,
        "postpone_minutes": 30,
        "stop_deadline": "02:00",
    },
}


class Sandbox:
    def __init__(self, root: Path, up_output: str) -> None:
        self.layout = Layout(root)
        self.up_output = up_output
        state = self.layout.read_state()
        assert state is not None
        self.state = state
        self.token = self.layout.token_file.read_text().strip()
        self.api_url: str = state["api_url"]
        self.hub_url: str = state["hub_url"]
        self.ca_file = Path(state["ca_file"])

    def session(self) -> HubSession:
        """A participant's browser-like session on the hub's https address, trusting the sandbox's CA."""
        return HubSession(self.hub_url, ca_file=self.ca_file)

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token or self.token}"
        req = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as reply:
                text = reply.read()
                return reply.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None

    def wait_op(self, op_id: str, timeout_s: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, op = self.http("GET", f"/operations/{op_id}")
            assert status == 200, op
            if op["state"] in ("succeeded", "failed"):
                return dict(op)
            time.sleep(0.2)
        raise AssertionError(f"operation {op_id} did not end in {timeout_s} s")

    def wait_idle(self, timeout_s: float = 90) -> dict[str, Any]:
        """Until no operation holds the hub (a start triggers a reconcile that runs a while)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = self.http("GET", "/status")
            assert status == 200, body
            if body["operation_in_progress"] is None and not body["running"] and not body["waiting"]:
                return dict(body)
            time.sleep(0.3)
        raise AssertionError("an operation still holds the hub")

    def wait_reconciled(self, after_op: str, timeout_s: float = 60) -> dict[str, Any]:
        """Until a reconcile newer than ``after_op`` (ids sort by time) has ended and the hub is idle:
        the state-change rule fires a moment after the instance reaches running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.wait_idle()
            done = [
                o
                for o in body["last_operations"]
                if o["kind"] == "reconcile" and o["id"] > after_op and o["state"] in ("succeeded", "failed")
            ]
            if done:
                return dict(done[0])
            time.sleep(0.3)
        raise AssertionError(f"no reconcile after {after_op}")

    def hubctl(self, *args: str) -> tuple[int, str]:
        env = {
            "HUBCTL_SANDBOX": "1",
            "HUBCTL_API_URL": self.api_url,
            "HUBCTL_TOKEN_FILE": str(self.layout.token_file),
            "HUBCTL_HUB_URL": self.hub_url,
            "HUBCTL_HUB_CA_FILE": str(self.ca_file),
            "HUBCTL_POLL_SECONDS": "0.2",
        }
        result = CliRunner().invoke(hubctl_app, ["--sandbox", "-o", "json", *args], env=env)
        return result.exit_code, result.output

    def ec2(self) -> Any:
        return aws.client("ec2", self.layout, self.state)

    def instance(self) -> dict[str, Any]:
        found = self.ec2().describe_instances(InstanceIds=[self.state["instance_id"]])
        return dict(found["Reservations"][0]["Instances"][0])

    def tick(self, at: str) -> dict[str, Any]:
        done = _sandbox_cli(self.layout.root, "tick", "--at", at)
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(json.loads(done.stdout))


def _sandbox_cli(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args, "--root", str(root)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _op_json(output: str) -> dict[str, Any]:
    """The operation hubctl -o json printed (its last JSON object)."""
    start = output.rfind("\n{")
    return dict(json.loads(output[start + 1 if start >= 0 else output.index("{") :]))


def running_sandbox(
    config_values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, name: str, timeout_s: float = 180
) -> Iterator[Sandbox]:
    """A sandbox `up` with ``config_values`` as its workshop.yaml, for a module's tests; `down` after them
    stops every process group it started."""
    # Others may traverse it (pytest's tmp folders are root-only): as root, servers run as jupyter-NAME.
    root = Path(tempfile.mkdtemp(prefix=f"sandbox-{name}-", dir="/tmp"))
    root.chmod(0o755)
    config = tmp_path_factory.mktemp(f"{name}-config") / "workshop.yaml"
    config.write_text(yaml.safe_dump(config_values))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "up",
            "--root",
            str(root),
            "--config",
            str(config),
            "--hub-port",
            "0",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    running = Sandbox(root, done.stdout)
    try:
        yield running
    finally:
        pids = dict(running.state["pids"])
        stopped = _sandbox_cli(root, "down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not any(group_alive(pid) for pid in pids.values()), pids
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from running_sandbox(CONFIG, tmp_path_factory, "test")


@pytest.fixture(scope="module")
def alice(sandbox: Sandbox) -> HubSession:
    """alice, added through the API, logged in with a first password, her JupyterLab running."""
    status, accepted = sandbox.http("POST", "/users", {"usernames": ["alice"]})
    assert status == 202, accepted
    assert sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"
    session = sandbox.session()
    assert session.login("alice", "alice-first-password")
    session.start_server()
    return session


def test_up_prints_where_things_are_and_a_second_up_says_it_runs(sandbox: Sandbox) -> None:
    out = sandbox.up_output
    assert sandbox.hub_url == f"https://127.0.0.1:{sandbox.state['ports']['hub']}"
    for needle in (
        sandbox.hub_url,
        str(sandbox.ca_file),
        sandbox.state["ca_fingerprint"],
        sandbox.api_url,
        str(sandbox.layout.token_file),
        "hubctl --sandbox users add",
    ):
        assert needle in out
    assert stat.S_IMODE(sandbox.layout.token_file.stat().st_mode) == 0o600
    for key in ("ca-key.pem", "hub-key.pem"):
        assert stat.S_IMODE((sandbox.layout.tls / key).stat().st_mode) == 0o600
    assert stat.S_IMODE(sandbox.layout.tls.stat().st_mode) == 0o700
    assert f"HUBCTL_HUB_CA_FILE={sandbox.ca_file}" in (sandbox.layout.root / "env").read_text()
    again = _sandbox_cli(sandbox.layout.root, "up")
    assert again.returncode == 0
    assert "already runs" in again.stdout
    state = sandbox.layout.read_state()
    assert state is not None and state["pids"] == sandbox.state["pids"]  # nothing restarted


def test_the_api_refuses_requests_without_the_token(sandbox: Sandbox) -> None:
    assert sandbox.http("GET", "/status", token=None)[0] == 401
    assert sandbox.http("GET", "/status", token="not-the-token")[0] == 401
    assert sandbox.http("POST", "/users", {"usernames": ["eve"]}, token=None)[0] == 401
    status, body = sandbox.http("GET", "/status")
    assert status == 200
    assert body["instance"]["state"] == "running"
    assert body["instance"]["type"] == "t3.medium"
    assert body["hub_health"]["hub_ok"] is True


def _raw_request(sandbox: Sandbox, head: str, body: bytes = b"") -> str:
    """Send a request's head (and ``body``), return the answer's status line. The socket's timeout
    turns a server that waits for a body never sent into a failure, not a hang."""
    port = int(sandbox.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def test_the_api_checks_the_token_then_the_length_before_it_reads_a_body(sandbox: Sandbox) -> None:
    token = f"Authorization: Bearer {sandbox.token}\n"
    post = "POST /users HTTP/1.1\nHost: sandbox\nContent-Type: application/json\n"
    # 50 MB announced, not a byte sent: answered without waiting for them
    assert " 401 " in _raw_request(sandbox, post + "Content-Length: 50000000\n")
    assert " 413 " in _raw_request(sandbox, post + token + f"Content-Length: {2 * 1024 * 1024}\n")
    assert " 400 " in _raw_request(sandbox, post + token + "Content-Length: -1\n")
    assert " 400 " in _raw_request(sandbox, post + token + "Content-Length: twelve\n")
    assert " 400 " in _raw_request(sandbox, post + token + "Content-Length: 5\nContent-Length: 6\n")
    assert " 411 " in _raw_request(sandbox, post + token + "Transfer-Encoding: chunked\n")
    # no Content-Length: no body (RFC 9112), so the handler answers that the usernames are missing
    assert " 400 " in _raw_request(sandbox, post + token)
    # a body of exactly 1 MB is read and handed on (the handler refuses its content, not its size)
    big = json.dumps({"usernames": ["x" * (1024 * 1024 - 20)]}).encode()
    big += b" " * (1024 * 1024 - len(big))
    status = _raw_request(sandbox, post + token + f"Content-Length: {len(big)}\n", big)
    assert " 400 " in status or " 422 " in status, status


def test_users_added_with_hubctl_log_in_with_a_first_password(sandbox: Sandbox) -> None:
    code, output = sandbox.hubctl("users", "add", "carol", "dave")
    assert code == 0, output
    op = _op_json(output)
    assert op["state"] == "succeeded"
    assert sorted(op["result"]["created"]) == ["carol", "dave"]

    status, body = sandbox.http("GET", "/users")
    assert status == 200
    roster = {u["username"]: u for u in body["users"]}
    assert roster["carol"]["on_hub"] and roster["dave"]["on_hub"]

    assert sandbox.session().login("carol", "carol-first-password")
    # the first password is now carol's; someone who was never added cannot log in at all
    assert not sandbox.session().login("carol", "another-password")
    assert not sandbox.session().login("mallory", "mallory-password")


def _front_log(sandbox: Sandbox) -> list[list[str]]:
    """The front's access lines, split: [date, time, logger, level, viewer, edge, method, path, status, ...]."""
    lines = (sandbox.layout.logs / "front.log").read_text().splitlines()
    return [line.split() for line in lines if " sandbox.front INFO " in line and line.endswith(" ms")]


def test_the_hub_answers_over_https_only_through_a_front_that_forwards_as_cloudfront(
    sandbox: Sandbox, alice: HubSession
) -> None:
    import http.client

    port = sandbox.state["ports"]["hub"]
    # plain HTTP on the hub's port is no way in
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/hub/login")
        conn.getresponse().read()
    conn.close()
    # nor is a certificate the client cannot check
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{sandbox.hub_url}/hub/api", timeout=10)
    # alice logged in over https: the hub saw the scheme, so her login cookies are Secure
    cookies = {cookie.name: cookie for cookie in alice.cookies}
    assert cookies["jupyterhub-hub-login"].secure and cookies["jupyterhub-session-id"].secure
    # each of her requests reached the hub from another address, and the hub logged them so
    edges = [fields[5] for fields in _front_log(sandbox)]
    assert len(edges) > 10 and all(a != b for a, b in itertools.pairwise(edges))
    hub_log = (sandbox.layout.hub_dir / "jupyterhub.log").read_text()
    assert len(set(re.findall(r"\(alice@(198\.51\.100\.\d+)\)", hub_log))) > 3


def test_a_kernels_websocket_runs_a_cell_through_the_front(sandbox: Sandbox, alice: HubSession) -> None:
    """What JupyterLab does when a cell runs: a kernel over REST, then its channels over wss."""
    import ssl

    import websocket

    xsrf = next(str(c.value) for c in alice.cookies if c.name == "_xsrf" and c.path.startswith("/user/alice"))
    req = urllib.request.Request(
        f"{sandbox.hub_url}/user/alice/api/kernels",
        data=b"{}",
        method="POST",
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(alice.cookies),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(sandbox.ca_file))),
    )
    with opener.open(req, timeout=60) as reply:
        kernel = json.loads(reply.read())
    cookie = "; ".join(f"{c.name}={c.value}" for c in alice.cookies if c.path.startswith("/user/alice"))
    channels = websocket.create_connection(
        f"wss://127.0.0.1:{sandbox.state['ports']['hub']}/user/alice/api/kernels/{kernel['id']}/channels",
        header=[f"Cookie: {cookie}"],
        origin=sandbox.hub_url,
        sslopt={"ca_certs": str(sandbox.ca_file)},
        timeout=60,
    )
    try:
        msg_id = uuid.uuid4().hex
        channels.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "alice",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": "print(6 * 7)", "silent": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        while True:
            message = json.loads(channels.recv())
            if message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "stream":
                assert message["content"]["text"] == "42\n"
                break
    finally:
        channels.close()
    upgraded = [f for f in _front_log(sandbox) if f[7].endswith(f"/kernels/{kernel['id']}/channels")]
    assert upgraded and upgraded[-1][8] == "101", upgraded


def test_a_data_repo_from_a_local_git_repository_lands_in_a_users_home(
    sandbox: Sandbox, alice: HubSession
) -> None:
    home = sandbox.layout.homes / "jupyter-alice"
    assert home.is_dir()  # made at her first spawn, as TLJH does

    repo = sandbox.layout.repos / "course-material"
    make_repo(repo, "main", "course-material")
    (repo / "data.csv").write_text("x,y\n1,2\n")
    git(repo, "add", "data.csv")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "data")

    status, accepted = sandbox.http(
        "POST", "/data/sync", {"name": "course", "repo": f"{GIT_PREFIX}course-material", "ref": "main"}
    )
    assert status == 202, accepted
    op = sandbox.wait_op(accepted["operation_id"])
    assert op["state"] == "succeeded", op
    link = home / "course"
    assert link.is_symlink()
    assert (link / "data.csv").read_text() == "x,y\n1,2\n"
    assert Path(os.readlink(link)) == sandbox.layout.data_root / "course"

    code, output = sandbox.hubctl("sync", "workshopdata")  # the configured repo, by name
    assert code == 0, output
    assert (home / "workshopdata" / "README.md").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="real unix users need root (the sandbox says so at up)")
def test_as_root_each_participant_is_a_unix_user_with_private_home_and_read_only_data(
    sandbox: Sandbox, alice: HubSession
) -> None:
    import pwd

    assert sandbox.state["system_users"] is True, sandbox.state.get("system_users_note")
    assert "jupyter-NAME" in sandbox.up_output
    pid = int((sandbox.layout.server_pids / "alice.pid").read_text())
    server_uid = Path(f"/proc/{pid}").stat().st_uid
    assert pwd.getpwuid(server_uid).pw_name == "jupyter-alice"
    home = sandbox.layout.homes / "jupyter-alice"
    assert home.stat().st_uid == server_uid
    assert stat.S_IMODE(home.stat().st_mode) == 0o700

    def as_alice(*command: str) -> int:
        return subprocess.run(
            ["runuser", "-u", "jupyter-alice", "--", *command], capture_output=True
        ).returncode

    assert as_alice("touch", str(home / "mine.txt")) == 0
    assert as_alice("cat", str(home / "course" / "data.csv")) == 0
    assert as_alice("touch", str(home / "course" / "mine.txt")) != 0  # the data is read-only
    assert as_alice("rm", str(home / "course" / "data.csv")) != 0
    other = sandbox.layout.homes / "jupyter-zed"
    other.mkdir(mode=0o700, exist_ok=True)
    assert as_alice("ls", str(other)) != 0


@pytest.mark.skipif(
    os.geteuid() != 0, reason="participants are unix users only when the sandbox runs as root"
)
def test_a_participant_reaches_nothing_of_the_control_plane(sandbox: Sandbox, alice: HubSession) -> None:
    """As the unix user jupyter-alice, with the project's boto3 (her environment sees it): moto refuses
    what is not signed with the sandbox's key (the PutItem that once made her an admin), moto's own
    API is closed, the sandbox API wants its token, and the state, logs, keys and the hub's database
    cannot be read."""
    layout = sandbox.layout
    secrets_to_try = [
        layout.state_file,
        layout.token_file,
        layout.aws_dir / "credentials",
        layout.aws_dir / "moto.wal",
        layout.aws_dir / "moto.snapshot",
        layout.logs / "control.log",
        layout.logs / "moto.log",
        layout.logs / "hubagent.log",
        layout.hub_dir / "jupyterhub.sqlite",
        layout.hub_dir / "jupyterhub_cookie_secret",
        layout.hub_dir / "service-token",
        *sorted(layout.password_state.glob("passwords.dbm*")),
        *sorted(layout.executions.glob("*.json"))[:1],
    ]
    for path in secrets_to_try:
        assert path.exists(), path  # the check below must try real files
    script = """
import json, sys, urllib.request, urllib.error
import boto3
from botocore.exceptions import ClientError
moto, table, api, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
out = {}
for key in ("sandbox", "guess"):
    ddb = boto3.client("dynamodb", endpoint_url=moto, region_name="eu-west-1",
                       aws_access_key_id="sandbox", aws_secret_access_key=key)
    for name, call in (
        ("put_item", lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "user"}, "sk": {"S": "mallory"},
            "admin": {"BOOL": True}, "on_hub": {"BOOL": False}, "added_at": {"S": "now"}})),
        ("scan", lambda: ddb.scan(TableName=table)),
    ):
        try:
            call()
            out[name + ":" + key] = "accepted"
        except ClientError as err:
            out[name + ":" + key] = err.response["ResponseMetadata"]["HTTPStatusCode"]
for path in ("/moto-api/data.json", "/moto-api/reset", "/"):
    try:
        urllib.request.urlopen(urllib.request.Request(moto + path, data=b"" if "reset" in path else None))
        out[path] = "answered"
    except urllib.error.HTTPError as err:
        out[path] = err.code
try:
    urllib.request.urlopen(api + "/users")
    out["api"] = "answered"
except urllib.error.HTTPError as err:
    out["api"] = err.code
for f in files:
    try:
        open(f, "rb").read(1)
        out[f] = "read"
    except OSError as err:
        out[f] = type(err).__name__
print(json.dumps(out))
"""
    done = subprocess.run(
        [
            "runuser",
            "-u",
            "jupyter-alice",
            "--",
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
            "HOME=/tmp",
            str(layout.user_env / "bin" / "python"),
            "-c",
            script,
            sandbox.state["moto_url"],
            sandbox.state["table"],
            sandbox.api_url,
            *map(str, secrets_to_try),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    for name in ("put_item:sandbox", "put_item:guess", "scan:sandbox", "scan:guess"):
        assert out[name] == 403, out
    for route in ("/moto-api/data.json", "/moto-api/reset", "/"):
        assert out[route] == 403, out
    assert out["api"] == 401, out
    for path in secrets_to_try:
        assert out[str(path)] == "PermissionError", (path, out)
    status, body = sandbox.http("GET", "/users")
    assert status == 200 and "mallory" not in {u["username"] for u in body["users"]}


def test_a_burst_of_200_single_user_requests_is_200_accepted_and_200_users_each_created_once(
    sandbox: Sandbox,
) -> None:
    """A room registering at once: 200 concurrent POST /users from 50 clients over real HTTP."""
    from concurrent.futures import ThreadPoolExecutor

    sandbox.wait_idle()
    names = [f"burst{i:03d}" for i in range(200)]

    def register(name: str) -> tuple[int, Any]:
        return sandbox.http(
            "POST", "/users", {"usernames": [name]}, headers={"Idempotency-Key": f"burst-{name}"}
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(register, names))
    assert [status for status, _ in answers] == [202] * 200, [a for a in answers if a[0] != 202][:3]
    syncs = {body["operation_id"] for _, body in answers}
    created: list[str] = []
    for op_id in sorted(syncs):
        op = sandbox.wait_op(op_id, timeout_s=180)
        assert op["state"] == "succeeded", op
        created += [n for n in op["result"]["created"] if n.startswith("burst")]
    assert sorted(created) == names  # every one created, none twice
    status, body = sandbox.http("GET", "/users")
    assert status == 200, body
    on_hub = {u["username"] for u in body["users"] if u["on_hub"]}
    assert set(names) <= on_hub
    assert set(names) <= hub_user_names(sandbox)  # JupyterHub's own answer, not our records


def hub_user_names(sandbox: Sandbox) -> set[str]:
    """Every user of the real hub, through its REST API (paged: at most 200 a page)."""
    token = sandbox.layout.hub_token_file.read_text().strip()
    found: set[str] = set()
    offset = 0
    while True:
        req = urllib.request.Request(
            f"{sandbox.state['hub_api_url']}/users?offset={offset}&limit=200",
            headers={"Authorization": f"token {token}", "Accept": "application/jupyterhub-pagination+json"},
        )
        with urllib.request.urlopen(req, timeout=30) as reply:
            page = json.loads(reply.read())
        items = page["items"] if isinstance(page, dict) else page
        found |= {u["name"] for u in items}
        if len(items) < 200:
            return found
        offset += 200


def test_resize_and_grow_change_moto_and_record_their_steps(sandbox: Sandbox) -> None:
    sandbox.wait_idle()
    code, output = sandbox.hubctl("resize", "t3.large", "--force")
    assert code == 0, output
    op = _op_json(output)
    steps = [s["name"] for s in op["steps"]]
    assert steps[:6] == [
        "wait for the hub",
        "check that t3.large is offered in the hub's zone",
        "stop instance",
        "wait for stopped",
        "change type t3.medium -> t3.large",
        "start instance",
    ]
    assert all(s["state"] == "succeeded" and s["started_at"] and s["ended_at"] for s in op["steps"])
    assert sandbox.instance()["InstanceType"] == "t3.large"
    assert sandbox.instance()["State"]["Name"] == "running"

    reconcile = sandbox.wait_reconciled(op["id"])  # the start ran the state-change rule
    assert reconcile["state"] == "succeeded", reconcile

    status, accepted = sandbox.http("POST", "/volume/grow", {"size_gib": 40})
    assert status == 202, accepted
    op = sandbox.wait_op(accepted["operation_id"])
    assert op["state"] == "succeeded", op
    steps = [s["name"] for s in op["steps"]]
    assert "modify volume 30 -> 40 GiB" in steps and "disk-grow" in steps
    assert op["result"]["filesystem"]["changed"] is True
    volume = sandbox.ec2().describe_volumes(VolumeIds=[sandbox.state["volume_id"]])["Volumes"][0]
    assert volume["Size"] == 40


def test_the_night_stop_postpones_while_a_user_is_active(sandbox: Sandbox, alice: HubSession) -> None:
    sandbox.wait_idle()
    # Tonight's (or the next) night stop after the sandbox's own now: a literal date would expire.
    _, clock = sandbox.http("GET", "/_sandbox/clock")
    stop_at = dt.datetime.fromisoformat(
        next_local(
            "22:00",
            "Europe/Berlin",
            ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
            dt.datetime.fromisoformat(clock["now"]),
        )
    )
    later = stop_at + dt.timedelta(minutes=30)
    fired = sandbox.tick(stop_at.isoformat())
    night = [f for f in fired["fired"] if f["input"].get("action") == "night-stop"]
    assert night, fired
    op = sandbox.wait_op(night[0]["result"]["operation_id"])
    assert op["state"] == "succeeded", op
    assert op["result"]["stopped"] is False
    assert op["result"]["active_users"] == ["alice"]
    scheduler = aws.client("scheduler", sandbox.layout, sandbox.state)
    group = sandbox.state["schedule_group"]
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    postponed = [n for n in names if n.startswith("postponed-stop-")]
    assert postponed, names
    detail = scheduler.get_schedule(Name=postponed[0], GroupName=group)
    # Half an hour after the sandbox clock read when the stop ran: a few seconds after the tick on a loaded machine.
    expression = detail["ScheduleExpression"]
    at = dt.datetime.fromisoformat(expression.removeprefix("at(").removesuffix(")")).replace(
        tzinfo=later.tzinfo
    )
    assert expression.startswith("at(") and dt.timedelta(0) <= at - later < dt.timedelta(seconds=30), (
        expression
    )
    assert detail["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert sandbox.instance()["State"]["Name"] == "running"

    # half an hour later the postponed stop fires; alice is still active: postponed again
    fired = sandbox.tick(at.isoformat())
    again = [f for f in fired["fired"] if f["input"].get("action") == "postponed-stop"]
    assert again, fired
    op = sandbox.wait_op(again[0]["result"]["operation_id"])
    # The same for the second postponement (1.6 s after it on a loaded machine).
    again_at = dt.datetime.fromisoformat(op["result"]["postponed_until"].replace("Z", "+00:00"))
    assert op["result"]["stopped"] is False, op
    assert dt.timedelta(0) <= again_at - (at + dt.timedelta(minutes=30)) < dt.timedelta(seconds=30), op
    assert sandbox.instance()["State"]["Name"] == "running"


def test_a_stopped_hub_keeps_requests_for_the_next_start(sandbox: Sandbox) -> None:
    sandbox.wait_idle()
    status, body = sandbox.http("POST", "/instance/stop", {"force": True})
    assert status == 202
    sandbox.wait_op(body["operation_id"])
    assert sandbox.instance()["State"]["Name"] == "stopped"
    status, accepted = sandbox.http("POST", "/users", {"usernames": ["erin"]})
    op = sandbox.wait_op(accepted["operation_id"])
    assert "deferred" in json.dumps(op["steps"]) or op["state"] == "failed", op
    code, output = sandbox.hubctl("start")
    assert code == 0, output
    sandbox.wait_reconciled(_op_json(output)["id"])  # it creates erin, recorded while the hub was stopped
    status, body = sandbox.http("GET", "/users")
    assert {u["username"]: u["on_hub"] for u in body["users"]}["erin"] is True


def _hostile_corpus() -> dict[str, list[str]]:
    try:
        from tests.agent.hostile import HOSTILE
    except ModuleNotFoundError:
        pytest.skip("tests/agent/hostile.py is not there")
    return dict(HOSTILE)


def test_the_hostile_corpus_gets_4xx_and_nothing_is_recorded(sandbox: Sandbox) -> None:
    from hubagent import rules

    hostile = _hostile_corpus()
    sandbox.wait_idle()
    agent_log = sandbox.layout.logs / "hubagent.log"
    log_size = agent_log.stat().st_size
    _, before_status = sandbox.http("GET", "/status")
    _, before_users = sandbox.http("GET", "/users")
    bodies = {
        "username": lambda v: [("/users", {"usernames": [v]}), ("/users", {"usernames": ["zoe", v]})],
        "instance_type": lambda v: [("/instance/resize", {"instance_type": v})],
        "data_name": lambda v: [("/data/sync", {"name": v})],
        "git_url": lambda v: [("/data/sync", {"name": "data", "repo": v})],
        "git_ref": lambda v: [("/data/sync", {"name": "data", "repo": f"{GIT_PREFIX}data", "ref": v})],
        "pip_spec": lambda v: [("/packages", {"packages": [v]})],
        "conda_spec": lambda v: [("/packages", {"packages": [v], "manager": "conda"})],
    }
    sent = 0
    for kind, values in hostile.items():
        for value in values:
            for path, body in bodies[kind](value):
                status, answer = sandbox.http("POST", path, body)
                assert 400 <= status < 500, (path, body, status, answer)
                assert answer and answer.get("error"), (path, body, answer)
                sent += 1
        for value in values:
            try:
                rules.check_username(value)
            except rules.RuleError:
                from urllib.parse import quote

                status, _ = sandbox.http("DELETE", f"/users/{quote(value, safe='')}")
                assert 400 <= status < 500, value
    status, _ = sandbox.http("POST", "/users", raw=b'{"usernames": ["ok"')
    assert status == 400
    assert sent > 300
    _, after_status = sandbox.http("GET", "/status")
    _, after_users = sandbox.http("GET", "/users")
    assert after_users == before_users
    assert after_status["last_operations"] == before_status["last_operations"]
    # hubagent ran for /status's health checks only: no command reached the instance
    logged = agent_log.read_text()[log_size:]
    assert {line.split()[1] for line in logged.splitlines() if line.startswith("== ")} <= {"health"}


def test_the_nbgitpuller_link_pulls_the_notebooks_into_a_home(sandbox: Sandbox, alice: HubSession) -> None:
    code, output = sandbox.hubctl("--config", str(sandbox.layout.config_yaml), "link")
    assert code == 0, output
    link = json.loads(output)["url"]
    assert link.startswith(f"{sandbox.hub_url}/hub/user-redirect/git-pull?")
    assert link.startswith("https://")
    assert "git.sandbox.invalid%2Fnotebooks" in link
    query = urllib.parse.urlsplit(link).query
    status, _, page = alice.get(f"/user/alice/git-pull/api?{query}", follow=True)
    assert status == 200 and '"phase": "finished"' in page, page[-500:]
    assert (sandbox.layout.homes / "jupyter-alice" / "notebooks" / "intro.ipynb").is_file()


def test_initial_passwords_through_the_document_the_instance_runs(sandbox: Sandbox) -> None:
    """users-set-passwords as SSM would run it (its document's script, parameters checked as SSM checks
    them), hubagent writing the sandbox hub's FirstUse store: the hub accepts exactly those passwords."""

    from workshop_hub.adapters.local_commands import LocalCommands

    from sandbox.wiring import agent_environ

    status, accepted = sandbox.http("POST", "/users", {"usernames": ["pia", "quinn"]})
    assert status == 202 and sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"
    commands = LocalCommands(
        agent=sandbox.layout.root / "agent",
        environ=agent_environ(sandbox.layout, sandbox.state),
        instance_state=lambda: "running",
    )
    import bcrypt

    pia, quinn = (
        bcrypt.hashpw(pw, bcrypt.gensalt(rounds=4)).decode() for pw in (b"PiaPassw0rd234", b"QuinnPassw0rd5")
    )
    result = commands.run("users-set-passwords", {"Credentials": f"pia:{pia} quinn:{quinn}"})
    assert result["ok"] and result["set"] == ["pia", "quinn"], result
    assert not sandbox.session().login("pia", "pia-claims-a-new-one")
    assert sandbox.session().login("pia", "PiaPassw0rd234")
    assert sandbox.session().login("quinn", "QuinnPassw0rd5")


def test_initial_passwords_with_hubctl_only_hashes_leave_the_computer(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """hubctl users add --passwords through the real API, worker and hubagent: the sheet's passwords
    log in, nobody can claim those names, and no password or hash stays in the operation or the
    agent's log."""
    import csv

    folder = tmp_path / "sheet"
    code, output = sandbox.hubctl("users", "add", "rosa", "sam", "--passwords", "--sheet-dir", str(folder))
    assert code == 0, output
    with (folder / "participants.csv").open() as sheet_file:
        passwords = {row["username"]: row["password"] for row in csv.DictReader(sheet_file)}
    assert set(passwords) == {"rosa", "sam"}
    with (folder / "participants.csv").open() as sheet_file:
        assert {row["hub_url"] for row in csv.DictReader(sheet_file)} == {f"{sandbox.hub_url}/hub/login"}
    assert not sandbox.session().login("rosa", "rosa-claims-a-new-one")
    assert sandbox.session().login("rosa", passwords["rosa"])
    assert sandbox.session().login("sam", passwords["sam"])

    status, listed = sandbox.http("GET", "/operations?limit=20")
    assert status == 200
    op_id = next(o["id"] for o in listed["operations"] if o["kind"] == "users-set-passwords")
    op = sandbox.wait_op(op_id)
    assert op["state"] == "succeeded" and op["params"] == {"usernames": ["rosa", "sam"], "reset": False}
    assert sorted(op["result"]["set"]) == ["rosa", "sam"]
    log = (sandbox.layout.logs / "hubagent.log").read_text()
    for text in (json.dumps(op), log):
        assert "$2b$" not in text and not any(pw in text for pw in passwords.values())


def test_history_status_and_forgetting_a_package_through_the_real_api(sandbox: Sandbox) -> None:
    sandbox.wait_idle()
    env = {
        "HUBCTL_SANDBOX": "1",
        "HUBCTL_API_URL": sandbox.api_url,
        "HUBCTL_TOKEN_FILE": str(sandbox.layout.token_file),
        "HUBCTL_HUB_CA_FILE": str(sandbox.ca_file),
        "HUBCTL_POLL_SECONDS": "0.2",
        "COLUMNS": "80",
    }
    listed = CliRunner().invoke(hubctl_app, ["--sandbox", "ops", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) >= 2 and all(len(line) <= 80 for line in lines)
    short = lines[0].split()[0]
    shown = CliRunner().invoke(hubctl_app, ["--sandbox", "ops", "show", short], env=env)
    assert shown.exit_code in (0, 1), shown.output
    assert short in shown.stdout

    status = CliRunner().invoke(hubctl_app, ["--sandbox", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "Europe/Berlin" in status.stdout and "next night stop" in status.stdout
    assert sandbox.hub_url in status.stdout
    # the participants' way in, its certificate checked against the sandbox's CA
    assert "answers over https, certificate valid" in status.stdout, status.stdout
    assert "GiB" in status.stdout and "_bytes" not in status.stdout

    # A mistyped package fails (alone), and is forgotten; one never asked for is refused.
    code, output = sandbox.hubctl("packages", "add", "definitely-not-a-real-pkg-wsh")
    assert code == 1, output
    assert "definitely-not-a-real-pkg-wsh" in _op_json(output)["error"]
    code, output = sandbox.hubctl("packages", "remove", "definitely-not-a-real-pkg-wsh")
    assert code == 0, output
    assert _op_json(output)["kind"] == "packages-remove"
    code, output = sandbox.hubctl("packages", "remove", "never-asked-for")
    assert code == 4 and "not a pip package asked for" in output, output  # 404: not there


# --- the participant's path, in a real browser ---------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory):
    """Headless Debian Chromium driven by Selenium, trusting the sandbox's CA as a participant's browser
    trusts CloudFront's (an NSS database in its HOME, where Chromium on Linux reads it); skipped, saying
    why, where it cannot run."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("no /usr/bin/chromium or /usr/bin/chromedriver: apt-get install chromium chromium-driver")
    if shutil.which("certutil") is None:
        pytest.skip("no certutil to make Chromium trust the sandbox's CA: apt-get install libnss3-tools")
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
    except ImportError:
        pytest.skip("selenium is not installed (make setup installs it)")
    home = tmp_path_factory.mktemp("chromium-home")
    nss = home / ".pki" / "nssdb"
    nss.mkdir(parents=True)
    for command in (
        ["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"],
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{nss}",
            "-n",
            "workshop-hub sandbox CA",
            "-t",
            "C,,",
            "-i",
            str(sandbox.ca_file),
        ],
    ):
        subprocess.run(command, check=True, capture_output=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # as root and on a closed network (see the machine notes): no sandbox, no background connections
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={home / 'profile'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(
        executable_path=str(CHROMEDRIVER), env={**os.environ, "HOME": str(home)}
    )
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except WebDriverException as err:
        pytest.skip(f"headless Chromium cannot start here: {str(err).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_participant_logs_in_opens_a_notebook_and_runs_a_cell_in_a_browser_over_https(
    sandbox: Sandbox, browser
) -> None:
    """The participant's path in a real browser, all of it through the HTTPS front: the login form (its
    XSRF check with the address changing under it), the nbgitpuller link, the notebook, and a cell run
    by the kernel over its WebSocket, its output read from the page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from sandbox.hub import LOGIN_ANNOUNCEMENT

    status, accepted = sandbox.http("POST", "/users", {"usernames": ["webby"]})
    assert status == 202, accepted
    assert sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"

    browser.get(f"{sandbox.hub_url}/hub/login")
    assert browser.execute_script("return location.protocol") == "https:"  # no certificate warning page
    assert "7 characters or more" in browser.find_element(By.TAG_NAME, "body").text
    assert LOGIN_ANNOUNCEMENT.split(".")[0] in browser.page_source
    browser.find_element(By.ID, "username_input").send_keys("webby")
    browser.find_element(By.ID, "password_input").send_keys("webby-new-password")
    browser.find_element(By.ID, "login_submit").click()

    wait = WebDriverWait(browser, 120)
    wait.until(ec.url_contains("/user/webby/lab"))
    assert browser.current_url.startswith(f"{sandbox.hub_url}/user/webby/lab")
    cookies = {c["name"]: c for c in browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}
    for name in ("jupyterhub-hub-login", "jupyterhub-session-id", "jupyterhub-user-webby"):
        assert cookies[name]["secure"], cookies[name]
    listing = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, ".jp-DirListing-item[title*='workshopdata']"))
    )
    assert "workshopdata" in listing.text

    # The notebook, as the room opens it: the nbgitpuller link hubctl prints, then its first code cell run.
    code, output = sandbox.hubctl("--config", str(sandbox.layout.config_yaml), "link", "intro.ipynb")
    assert code == 0, output
    browser.get(json.loads(output)["url"])
    wait.until(ec.url_contains("/user/webby/lab/tree/notebooks/intro.ipynb"))
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    editor = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"{panel} .jp-CodeCell .jp-InputArea-editor"))
    )
    wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"{panel} .jp-Notebook-ExecutionIndicator[data-status='idle']")
        )
    )
    assert not browser.find_elements(By.CSS_SELECTOR, f"{panel} .jp-CodeCell .jp-OutputArea-output")
    editor.click()
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    result = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"{panel} .jp-CodeCell .jp-OutputArea-output"))
    )
    assert result.text.strip() == f"hello from {sandbox.layout.user_env}", result.text
    assert any(
        f[7].startswith("/user/webby/api/kernels/") and f[7].endswith("/channels") and f[8] == "101"
        for f in _front_log(sandbox)
    ), "the kernel's WebSocket went through the front"

    # What the participant's JupyterLab may do, through its own contents API (with its xsrf cookie).
    put = """
    const [path, done] = [arguments[0], arguments[arguments.length - 1]];
    const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
    fetch("/user/webby/api/contents/" + path, {method: "PUT", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-XSRFToken": decodeURIComponent(xsrf)},
          body: JSON.stringify({type: "file", format: "text", content: "hello"})})
      .then(r => done(r.status)).catch(e => done(String(e)));
    """
    assert browser.execute_async_script(put, "mine.txt") in (200, 201)
    assert (sandbox.layout.homes / "jupyter-webby" / "mine.txt").read_text() == "hello"
    if not sandbox.state["system_users"]:
        pytest.skip(
            f"the data is read-only only when the sandbox runs as root ({sandbox.state['system_users_note']})"
        )
    refused = browser.execute_async_script(put, "workshopdata/mine.txt")
    assert refused in (403, 500), refused
    assert not (sandbox.layout.data_root / "workshopdata" / "mine.txt").exists()


def test_a_mistyped_password_in_the_browser_shows_the_form_again_with_why(sandbox: Sandbox, browser) -> None:
    """webby has a password now (the test above): a mistyped one gets the login form back with its
    message, over https, not an empty page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{sandbox.hub_url}/hub/logout")
    browser.get(f"{sandbox.hub_url}/hub/login")
    browser.find_element(By.ID, "username_input").send_keys("webby")
    browser.find_element(By.ID, "password_input").send_keys("not-webbys-password")
    browser.find_element(By.ID, "login_submit").click()
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "username_input")))
    assert "Invalid username or password" in browser.find_element(By.TAG_NAME, "body").text
    assert browser.execute_script("return location.protocol") == "https:"

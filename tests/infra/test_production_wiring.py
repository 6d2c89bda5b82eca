"""The four functions wired as on Lambda -- handlers/plane.py's wiring root with the real SSM, Scheduler and
Lambda adapters and the environment the synthesized template gives each function -- against moto.

The other moto tests swap in doubles for hubagent and the worker's invoke; this one does not, so the IAM
contract check (tests/support/iam_contract.py) sees the calls the production adapters make: SendCommand,
GetCommandInvocation and CancelCommand, the worker's invoke through its alias, the hand-off's
SendDurableExecutionCallbackSuccess, one-time schedules. SSM's
answers and Lambda's Invoke are stubbed at botocore's ``before-call`` (moto runs no command and no
function); the calls still go through the client, so they are recorded as AWS would see them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from workshop_hub import config as workshop_config

from tests.infra.conftest import PROJECT_ROOT, Synth
from tests.support.iam_policy import ACCOUNT, Resolver

pytestmark = pytest.mark.synth

ACCOUNT_ID = "123456789012"  # moto's
HUB_URL = "http://203.0.113.10"


@dataclass
class Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stubs:
    """SSM's and Lambda's answers, and what was asked of them."""

    pending: bool = False  # every command stays InProgress (so it times out and is cancelled)
    active_users: list[str] = field(default_factory=list)
    hub_users: list[str] = field(default_factory=list)  # what users-list finds on the hub
    invoked: list[dict[str, Any]] = field(default_factory=list)
    asked: dict[str, dict[str, Any]] = field(default_factory=dict)  # operation -> its last parameters

    def remember(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """before-parameter-build: the call's own parameters (before-call sees the HTTP request)."""
        self.asked[model.name] = dict(params)

    def get_command_invocation(self, **_: Any) -> tuple[Http, dict[str, Any]]:
        params = self.asked["GetCommandInvocation"]
        if self.pending:
            return Http(200), {"Status": "InProgress", "StatusDetails": "InProgress"}
        result = {
            "ok": True,
            "changed": True,
            "hub_ok": True,
            "installed": True,
            "hub_version": "5.2.1",
            "names": list(self.hub_users),  # users-list, one page (hubagent's format)
            "admins": [],
            "active_users": self.active_users,
            "count": 1,  # rehearse-begin: one notebook, so the rehearsal sends every one of its documents
            "next_cell": None,
        }
        answer = {
            "Status": "Success",
            "StatusDetails": "Success",
            "StandardOutputContent": json.dumps(result),
        }
        return Http(200), {**answer, "CommandId": params["CommandId"], "InstanceId": params["InstanceId"]}

    ended: list[str] = field(default_factory=list)  # operation ids whose execution Lambda reports FAILED

    def executions(self, **_: Any) -> tuple[Http, dict[str, Any]]:
        name = self.asked["ListDurableExecutionsByFunction"]["DurableExecutionName"]
        found = [{"DurableExecutionName": name, "Status": "FAILED"}] if name in self.ended else []
        return Http(200), {"DurableExecutions": found}

    def invoke(self, **_: Any) -> tuple[Http, dict[str, Any]]:
        params = self.asked["Invoke"]
        self.invoked.append({**params, "Payload": json.loads(params.get("Payload") or b"{}")})
        return Http(202), {"StatusCode": 202}


def environment(synth: Synth, function: str, concrete: dict[str, str]) -> dict[str, str]:
    """The function's environment from the template, deploy-time values replaced by moto's."""
    template = json.loads((synth.outdir / f"{synth.config.hub.name}-control.template.json").read_text())
    resolver = Resolver(template, synth.config.hub.region)
    for resource in template["Resources"].values():
        if resource["Properties"].get("FunctionName") == f"{synth.config.hub.name}-{function}":
            variables = resource["Properties"]["Environment"]["Variables"]
            break
    else:
        raise AssertionError(f"no function {function}")
    env = {}
    for name, value in variables.items():
        resolved = resolver.arn(value).replace(ACCOUNT, ACCOUNT_ID)
        if name in concrete:
            env[name] = concrete[name]
        else:
            assert "*" not in resolved, f"{name} is known only at deploy time: give the test a value for it"
            env[name] = resolved
    return env


@pytest.fixture
def world(default_synth: Synth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from handlers import plane as handlers_plane
    from moto import mock_aws
    from workshop_hub.adapters.dynamodb import create_table

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    region = default_synth.config.hub.region
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    with mock_aws():
        boto3.setup_default_session(region_name=region)
        ec2 = boto3.client("ec2")
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")
        instance_id = instance["Instances"][0]["InstanceId"]
        volume_id = ec2.describe_volumes()["Volumes"][0]["VolumeId"]
        create_table(boto3.client("dynamodb"), "workshop-hub-state")
        config_path = tmp_path / "workshop.json"
        config_path.write_text(workshop_config.load(PROJECT_ROOT / "workshop.yaml").to_json())
        concrete = {
            "TABLE_NAME": "workshop-hub-state",
            "INSTANCE_ID": instance_id,
            "VOLUME_ID": volume_id,
            "HUB_URL": HUB_URL,
            "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/workshop-hub-scheduler",
        }
        env = environment(default_synth, "api", concrete)
        boto3.client("scheduler").create_schedule_group(Name=env["SCHEDULE_GROUP"])
        stubs = Stubs()
        assert boto3.DEFAULT_SESSION is not None
        events: Any = boto3.DEFAULT_SESSION.events
        events.register("before-parameter-build.ssm.GetCommandInvocation", stubs.remember)
        events.register("before-parameter-build.lambda.Invoke", stubs.remember)
        events.register("before-parameter-build.lambda.ListDurableExecutionsByFunction", stubs.remember)
        events.register("before-call.ssm.GetCommandInvocation", stubs.get_command_invocation)
        events.register("before-call.lambda.Invoke", stubs.invoke)
        # moto has no durable-execution APIs: Lambda's answer by name is the stub's (FAILED for `ended`).
        events.register("before-call.lambda.ListDurableExecutionsByFunction", stubs.executions)
        # moto has no CancelCommand.
        events.register("before-call.ssm.CancelCommand", lambda **_: (Http(200), {}))
        # Nor durable callbacks: the hand-off's call is recorded as Lambda would see it, and answered.
        events.register("before-parameter-build.lambda.SendDurableExecutionCallbackSuccess", stubs.remember)
        events.register("before-call.lambda.SendDurableExecutionCallbackSuccess", lambda **_: (Http(200), {}))

        def run(function: str, event: dict[str, Any]) -> Any:
            """One invocation of ``function`` as Lambda makes it: its environment, a fresh ControlPlane. The
            worker, a durable function, runs one whole execution under the durable SDK's local runner."""
            from workshop_hub.adapters.local_executions import LocalExecutions

            from sandbox.apigw import LambdaContext

            for key, value in environment(default_synth, function, concrete).items():
                monkeypatch.setenv(key, value)
            monkeypatch.setenv("CONFIG_PATH", str(config_path))
            handlers_plane.use_control_plane(None)
            module = __import__(f"handlers.{function}", fromlist=["handler"])
            if function != "worker":
                return module.handler(event, LambdaContext(f"workshop-hub-{function}", remaining_ms=900_000))
            executions = LocalExecutions(module.handler)
            try:
                executions.start(event["operation_id"])
                status = executions.wait(event["operation_id"])
            finally:
                executions.close()
            return {"operation_id": event["operation_id"], "status": status}

        yield World(run, stubs, env)
        handlers_plane.use_control_plane(None)
        boto3.DEFAULT_SESSION = None


@dataclass
class World:
    run: Any
    stubs: Stubs
    env: dict[str, str]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        from tests.support.apigw import event, parse

        reply = parse(self.run("api", event(method, path, body)))
        return reply

    def worker_runs_what_was_invoked(self) -> list[dict[str, Any]]:
        answers = []
        while self.stubs.invoked:
            invoked = self.stubs.invoked.pop(0)
            answers.append(self.run("worker", invoked["Payload"]))
        return answers


def test_the_worker_is_invoked_through_its_alias_asynchronously(world: World) -> None:
    reply = world.api("POST", "/users", {"usernames": ["ada", "grace"], "admin": False})
    assert reply.status == 202, reply.body
    (invoked,) = world.stubs.invoked
    assert invoked["FunctionName"] == world.env["WORKER_FUNCTION_NAME"]
    assert invoked["FunctionName"].endswith(":function:workshop-hub-worker:live")
    assert invoked["InvocationType"] == "Event"
    # Started at most once: the execution is named by the operation id.
    assert invoked["DurableExecutionName"] == invoked["Payload"]["operation_id"]
    (answer,) = world.worker_runs_what_was_invoked()
    assert answer["status"] == "SUCCEEDED", answer


def test_a_command_that_outlives_its_timeout_is_cancelled(world: World) -> None:
    world.stubs.pending = True
    status = world.api("GET", "/status")
    assert status.status == 200
    assert status.body["hub_health"]["ok"] is False
    assert "cancelled" in status.body["hub_health"]["error"]


HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


def requested_kind(method: str, path: str) -> str:
    """The kind the instructor asks for with ``method path`` (the registry's routes)."""
    from workshop_hub.kinds.registry import REQUESTED

    for kind in REQUESTED:
        assert kind.instructor is not None
        route = kind.instructor.route
        parts = route.path.split("/")
        pattern = "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        if route.method == method and re.fullmatch(pattern, path.split("?")[0]):
            return kind.name
    raise AssertionError(f"no kind is asked for with {method} {path}")


def test_every_operation_kind_runs_on_the_production_adapters(world: World) -> None:
    """Every kind the instructor asks for, so the IAM contract check sees each one's AWS calls."""
    from workshop_hub.kinds.registry import REQUESTED

    world.stubs.hub_users = ["grace"]
    asked: set[str] = set()
    for method, path, body in [
        ("POST", "/instance/resize", {"instance_type": "t3.large"}),
        ("POST", "/volume/grow", {"size_gib": 40}),
        ("POST", "/data/sync", {"name": "workshopdata"}),
        ("DELETE", "/data/workshopdata", None),
        ("POST", "/packages", {"packages": ["geopandas==1.0.1"], "manager": "pip"}),
        ("DELETE", "/packages/geopandas%3D%3D1.0.1", None),
        ("POST", "/users", {"usernames": ["grace"], "admin": False}),
        ("DELETE", "/users/grace", None),  # grace is on the hub (below): the sync removes her there
        ("POST", "/users", {"usernames": ["ada"], "admin": False}),  # not on the hub: the sync creates her
        ("POST", "/users/passwords", {"credentials": [{"username": "ada", "hash": HASH}]}),
        (
            "POST",
            "/instance/keep-awake",
            {"until": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()},
        ),
        (
            "POST",
            "/signup",
            {"open": True, "until": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()},
        ),
        ("GET", "/users", None),  # while the door is open: the api reads its walk-ins (signup-list)
        ("POST", "/signup", {"open": False}),
        ("POST", "/reconcile", None),
        ("POST", "/rehearse", {"cell_timeout": 60}),
        ("POST", "/instance/stop", {"force": True}),
        ("POST", "/instance/start", None),
    ]:
        reply = world.api(method, path, body)
        if method == "GET":
            assert reply.status == 200, (path, reply.body)
            continue
        assert reply.status == 202, (path, reply.body)
        asked.add(requested_kind(method, path))
        for answer in world.worker_runs_what_was_invoked():
            assert answer["status"] in ("SUCCEEDED", "FAILED"), answer
    assert asked == {kind.name for kind in REQUESTED}, "a kind the instructor asks for is not run here"


def test_the_schedules_and_the_reconcile_on_the_production_adapters(world: World) -> None:
    world.stubs.active_users = ["bob"]
    answer = world.run("schedule", {"action": "night-stop", "scheduled_time": "2026-12-01T21:00:00Z"})
    assert answer["action"] == "night-stop"
    world.worker_runs_what_was_invoked()
    world.stubs.active_users = []
    instance_id = world.env["INSTANCE_ID"]
    answer = world.run("reconcile", {"detail": {"instance-id": instance_id, "state": "running"}})
    assert answer["reconcile"] is not None
    world.worker_runs_what_was_invoked()


def test_every_scheduled_kind_runs_on_the_production_adapters(world: World) -> None:
    """Every kind a schedule asks for, through the schedule function, so the IAM contract check sees its calls."""
    from workshop_hub.kinds.registry import SCHEDULED

    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    payloads = {
        "session-prepare": {"instance_type": "t3.large"},
        "morning-start": {},
        "night-stop": {},
        "postponed-stop": {"deadline": deadline},
        "session-end": {},
        "session-signup": {"until": deadline},
        "signup-close": {"until": deadline},
    }
    assert set(payloads) == {kind.name for kind in SCHEDULED}, "a scheduled kind is not run here"
    for action, payload in payloads.items():
        fired = dt.datetime.now(dt.UTC).isoformat()
        answer = world.run("schedule", {"action": action, "scheduled_time": fired, **payload})
        assert answer["operation_id"], answer
        for done in world.worker_runs_what_was_invoked():
            assert done["status"] == "SUCCEEDED", (action, done)


def test_a_schedule_that_finds_the_hub_busy_queues_its_operation(world: World) -> None:
    assert world.api("POST", "/instance/resize", {"instance_type": "t3.large"}).status == 202
    answer = world.run("schedule", {"action": "morning-start", "scheduled_time": "2026-12-02T07:00:00Z"})
    assert answer["operation_id"] and answer["state"] == "queued", answer
    # Both executions were started through the alias; the second waits for the lease inside its own.
    assert [i["FunctionName"] for i in world.stubs.invoked] == [world.env["WORKER_FUNCTION_NAME"]] * 2
    for answer in world.worker_runs_what_was_invoked():
        assert answer["status"] == "SUCCEEDED", answer


def test_a_reconcile_while_an_operation_runs_is_queued_behind_it(world: World) -> None:
    assert world.api("POST", "/instance/resize", {"instance_type": "t3.large"}).status == 202
    event = {"detail": {"instance-id": world.env["INSTANCE_ID"], "state": "running"}}
    answer = world.run("reconcile", event)
    assert answer["reconcile"] and answer["state"] == "queued", answer
    for answer in world.worker_runs_what_was_invoked():
        assert answer["status"] == "SUCCEEDED", answer


def test_keep_awake_moves_the_night_stop_that_waits_for_it(world: World) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    assert world.api("POST", "/instance/keep-awake", {"until": until.isoformat()}).status == 202
    answer = world.run(
        "schedule", {"action": "night-stop", "scheduled_time": dt.datetime.now(dt.UTC).isoformat()}
    )
    assert answer["operation_id"], answer
    world.worker_runs_what_was_invoked()
    # The night stop now waits for keep-awake's end; "off" (the api) moves it to a minute from now.
    assert world.api("POST", "/instance/keep-awake", {"off": True}).status == 202
    import boto3

    names = [
        s["Name"]
        for s in boto3.client("scheduler").list_schedules(GroupName=world.env["SCHEDULE_GROUP"])["Schedules"]
    ]
    assert len(names) == 1 and names[0].startswith("postponed-stop-"), names


def test_a_waiter_looks_up_the_execution_ahead_of_it_by_name(world: World) -> None:
    resize = world.api("POST", "/instance/resize", {"instance_type": "t3.large"}).body["operation_id"]
    assert world.api("POST", "/instance/stop", {"force": True}).status == 202
    # The resize's execution never ran (Lambda reports it FAILED); the stop, next in line, asks Lambda.
    world.stubs.ended.append(resize)
    _, stop = world.stubs.invoked
    world.stubs.invoked.clear()
    done = world.run("worker", stop["Payload"])
    asked = world.stubs.asked["ListDurableExecutionsByFunction"]
    assert asked["DurableExecutionName"] == resize
    # Every version's executions: the holder may still run on the version before a deploy.
    assert asked["FunctionName"].endswith(":function:workshop-hub-worker") and "Qualifier" not in asked
    assert done["status"] == "SUCCEEDED"  # the stop did not wait behind a dead execution
    dropped = world.api("GET", f"/operations/{resize}").body
    assert dropped["state"] == "failed" and "its execution ended (FAILED)" in dropped["error"]


def test_the_releaser_hands_the_hub_to_the_next_waiter(world: World) -> None:
    from handlers import plane as handlers_plane

    resize = world.api("POST", "/instance/resize", {"instance_type": "t3.large"}).body["operation_id"]
    stop = world.api("POST", "/instance/stop", {"force": True}).body["operation_id"]
    # The stop waits for its turn, suspended on its durable callback, whose id it recorded in the queue.
    callback = "Y2FsbGJhY2stb2YtdGhlLXN0b3A="
    assert handlers_plane.control_plane().services.stores.lease.wait_here(stop, callback)
    first, second = world.stubs.invoked
    world.stubs.invoked.clear()
    assert world.run("worker", first["Payload"])["status"] == "SUCCEEDED"  # the resize, releasing the hub
    assert world.stubs.asked["SendDurableExecutionCallbackSuccess"]["CallbackId"] == callback
    assert world.run("worker", second["Payload"])["status"] == "SUCCEEDED"
    assert first["Payload"]["operation_id"] == resize and second["Payload"]["operation_id"] == stop

"""A control plane against moto (mock_aws) with a fake hub behind InstanceCommands.

FakeHub keeps the hub's state in memory (users, data repos, packages, disk) and answers like hubagent
(one JSON result, ``changed`` true only when something changed). It is honest where it matters to
the control plane: it refuses parameters that break hubagent's rules (as the SSM documents'
allowedPattern would) and it is offline unless the moto instance is running.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from hubagent import documents, rules
from workshop_hub import config as config_module
from workshop_hub.adapters.dynamodb import create_table, dynamodb_stores
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.adapters.local_executions import LocalExecutions
from workshop_hub.adapters.scheduler import EventBridgeSchedules
from workshop_hub.control_plane import ControlPlane
from workshop_hub.deployment import Deployment
from workshop_hub.operations import Operation
from workshop_hub.ports import ACTIONS, AgentFailed, AgentOffline, AgentTimeout
from workshop_hub.services import Services, Timeouts

from tests.support import agent_answers
from tests.support.strict_ec2 import StrictEc2

REGION = "eu-west-1"
# One of moto's built-in AMIs (describe_images would list them all: slow).
EXAMPLE_AMI = "ami-12c6146b"
GROUP = "workshop-hub-schedules"  # the stack's group (stacks/constructs/hub_schedules.py group_name)
TARGET = "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-schedule"
ROLE = "arn:aws:iam::123456789012:role/workshop-hub-scheduler"

CONFIG = {
    "hub": {"name": "workshop-hub", "instance_type": "t3.medium", "volume_gib": 30},
    "packages": {"pip": ["nbgitpuller", "pandas>=2.2"]},
    "data_repos": [
        {"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller", "ref": "main"}
    ],
    "schedule": {
        "timezone": "Europe/Berlin",
        "night_stop": {"time": "22:00"},
        "active_minutes": 15,
        "postpone_minutes": 30,
        "stop_deadline": "02:00",
    },
    "sessions": [{"date": "2026-12-03", "start": "09:00", "end": "17:00", "instance_type": "t3.xlarge"}],
}


class FakeTime:
    """The plane's clock: sleeping moves it on at once."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now_ = start or dt.datetime.now(dt.UTC)
        self.slept = 0.0

    def now(self) -> dt.datetime:
        # A millisecond passes at every look, as on a real clock: operation ids stay in order.
        self.now_ += dt.timedelta(milliseconds=1)
        return self.now_

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now_ += dt.timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now_ += dt.timedelta(**delta)


def _split(value: str) -> list[str]:
    return value.split(" ") if value else []


@dataclass
class FakeHub:
    """hubagent on a hub, in memory."""

    instance_state: Callable[[], str]
    users: dict[str, bool] = field(default_factory=dict)  # name -> admin
    data: dict[str, tuple[str, str]] = field(default_factory=dict)
    packages: dict[str, set[str]] = field(default_factory=dict)
    disk_gib: int = 30
    volume_gib: Callable[[], int] = lambda: 30
    active_users: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # name -> bcrypt hash (FirstUse's store)
    healthy: bool = True
    fail: dict[str, str] = field(default_factory=dict)  # action -> error message (ok: false)
    hang: set[str] = field(default_factory=set)  # actions that time out
    missing: set[str] = field(default_factory=set)  # package specs no index has
    install_attempts: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    users_page: int = 1000  # names a users-list answer holds (hubagent: as many as fit SSM's output)
    door: dict[str, str] = field(default_factory=dict)  # the sign-up door file: until, code_hash
    spool: list[tuple[str, str]] = field(default_factory=list)  # walk-ins: (name, signed up at)
    spool_id: str = "spool-1"

    def walk_in(self, name: str, at: str) -> None:
        """Someone signs up at the door: a hub user, and a line in the spool (as door.py does)."""
        assert self.door, "the door is closed"
        self.users[name] = False
        self.spool.append((name, at))

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        assert action in ACTIONS, action
        params = dict(params)
        self._validate(action, params)
        if self.instance_state() != "running":
            raise AgentOffline(
                f"the hub instance is {self.instance_state()}, so its agent cannot take commands"
            )
        self.calls.append((action, params))
        if action in self.hang:
            raise AgentTimeout(f"{action} did not finish within {timeout_s} s")
        if action in self.fail:
            result = {"ok": False, "action": action, "changed": False, "error": self.fail[action]}
            raise AgentFailed(self.fail[action], result)
        details = getattr(self, "_" + action.replace("-", "_"))(params)
        return {"ok": True, "action": action, **details}

    def _validate(self, action: str, p: dict[str, str]) -> None:
        expected = {
            "users-add": {"Usernames", "Admin"},
            "users-remove": {"Username"},
            "data-sync": {"Name", "Repo", "Ref"},
            "packages-install": {"Manager", "Packages"},
            "activity": {"Minutes"},
            "users-list": {"After"},
            "users-set-passwords": {"Credentials", "Reset"},
            "signup-open": {"Until", "CodeHash"},
            "signup-list": {"After"},
        }.get(action, set())
        assert set(p) == expected, f"{action}: parameters {sorted(p)} != {sorted(expected)}"
        if action == "users-add":
            names = _split(p["Usernames"])
            assert 1 <= len(names) <= rules.MAX_USERS_PER_REQUEST
            for name in names:
                rules.check_username(name)
            assert p["Admin"] in ("true", "false")
        elif action == "users-remove":
            rules.check_username(p["Username"])
        elif action == "data-sync":
            rules.check_data_name(p["Name"])
            rules.check_git_url(p["Repo"])
            if p["Ref"]:
                rules.check_git_ref(p["Ref"])
        elif action == "packages-install":
            for spec in _split(p["Packages"]):
                rules.check_package(p["Manager"], spec)
        elif action == "activity":
            assert p["Minutes"].isdigit()
        elif action == "users-list" and p["After"]:
            rules.check_username(p["After"])
        elif action == "users-set-passwords":  # as SSM checks the document's parameters
            documents.CREDENTIAL_LIST.check("Credentials", p["Credentials"])
            assert p["Reset"] in ("true", "false")
        elif action == "signup-open":
            rules.ISO_TIME.check("Until", p["Until"])
            rules.CODE_HASH.check("CodeHash", p["CodeHash"])
        elif action == "signup-list":
            documents.COUNT.check("After", p["After"])

    def _health(self, p: dict[str, str]) -> dict[str, Any]:
        return {
            "changed": False,
            "hub_ok": self.healthy,
            "installed": True,
            "hub_version": "5.2.1" if self.healthy else None,
        }

    def _activity(self, p: dict[str, str]) -> dict[str, Any]:
        return agent_answers.activity(int(p["Minutes"]), self.active_users, users=len(self.users))

    def _users_list(self, p: dict[str, str]) -> dict[str, Any]:
        return agent_answers.users_list(self.users, p["After"], self.users_page)

    def _users_add(self, p: dict[str, str]) -> dict[str, Any]:
        admin = p["Admin"] == "true"
        names = _split(p["Usernames"])
        created = [n for n in names if n not in self.users]
        promoted = [n for n in names if n in self.users and admin and not self.users[n]]
        for name in created + promoted:
            self.users[name] = admin
        return {
            "changed": bool(created or promoted),
            "created": created,
            "promoted": promoted,
            "existing": [n for n in names if n not in created],
            "admin": admin,
        }

    def _users_remove(self, p: dict[str, str]) -> dict[str, Any]:
        removed = self.users.pop(p["Username"], None) is not None
        return {"changed": removed, "removed": removed, "name": p["Username"]}

    def _users_set_passwords(self, p: dict[str, str]) -> dict[str, Any]:
        """As hubagent: every name must be a hub user; a user with a password keeps it unless Reset."""
        pairs = [item.split(":", 1) for item in _split(p["Credentials"])]
        missing = [name for name, _ in pairs if name not in self.users]
        if missing:
            raise AgentFailed(
                f"not users on the hub: {', '.join(missing)}; add them first (no password was set)",
                {"ok": False, "changed": False, "missing": missing},
            )
        done: dict[str, list[str]] = {"set": [], "kept": []}
        for name, hashed in pairs:
            if name in self.passwords and p["Reset"] != "true":
                done["kept"].append(name)
                continue
            self.passwords[name] = hashed
            done["set"].append(name)
        return {"changed": bool(done["set"]), **done}

    def _data_sync(self, p: dict[str, str]) -> dict[str, Any]:
        wanted = (p["Repo"], p["Ref"])
        changed = self.data.get(p["Name"]) != wanted
        self.data[p["Name"]] = wanted
        return {"changed": changed, "name": p["Name"], "path": f"/srv/data/{p['Name']}"}

    def _packages_install(self, p: dict[str, str]) -> dict[str, Any]:
        """As hubagent: a spec that cannot install fails alone (``missing``); the others install."""
        have = self.packages.setdefault(p["Manager"], set())
        specs = _split(p["Packages"])
        self.install_attempts.extend(specs)
        failed = [
            {"spec": s, "error": f"No matching distribution found for {s}"}
            for s in specs
            if s in self.missing
        ]
        new = [s for s in specs if s not in have and s not in self.missing]
        have.update(new)
        answer = {"changed": bool(new), "installed": new, "failed": failed}
        if failed and len(failed) == len(specs):
            raise AgentFailed("no package could be installed", {"ok": False, **answer})
        return answer

    def _signup_open(self, p: dict[str, str]) -> dict[str, Any]:
        self.door = {"until": p["Until"], "code_hash": p["CodeHash"]}
        return {"changed": True, "open": True, "until": p["Until"], "door_installed": False}

    def _signup_close(self, p: dict[str, str]) -> dict[str, Any]:
        was = bool(self.door)
        self.door = {}
        return {"changed": was, "open": False}

    def _signup_list(self, p: dict[str, str]) -> dict[str, Any]:
        after = int(p["After"])
        page = [(seq, name, at) for seq, (name, at) in enumerate(self.spool, start=1) if seq > after][:2]
        more = bool(page) and page[-1][0] < len(self.spool)
        return {
            "changed": False,
            "spool": self.spool_id if self.spool else "",
            "count": len(self.spool),
            "signups": [list(entry) for entry in page],
            "next": page[-1][0] if more else None,
        }

    def _disk_grow(self, p: dict[str, str]) -> dict[str, Any]:
        before, after = self.disk_gib, self.volume_gib()
        self.disk_gib = after
        return {"changed": after > before, "before_gib": before, "after_gib": after}


class WaitingPlane:
    """The ControlPlane as a test uses it: ``submit`` returns once the operation's durable execution
    (the real worker handler, under the SDK's local runner) has ended, unless ``inline`` is off."""

    def __init__(self, plane: ControlPlane, executions: LocalExecutions) -> None:
        self._plane = plane
        self.executions = executions
        self.inline = True

    def submit(self, kind: str, params: dict[str, Any], idempotency_key: str | None = None) -> Operation:
        op = self._plane.submit(kind, params, idempotency_key)
        if self.inline:
            self.executions.wait(op.id)
            return self._plane.operation(op.id) or op
        return op

    def scheduled(self, action: str, payload: dict[str, Any]) -> Operation:
        op = self._plane.scheduled(action, payload)
        if self.inline:
            self.executions.wait(op.id)
            return self._plane.operation(op.id) or op
        return op

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plane, name)


@dataclass
class World:
    plane: Any  # WaitingPlane
    hub: FakeHub
    time: FakeTime
    ec2: Any
    scheduler: Any
    dynamodb: Any
    instance_id: str
    volume_id: str
    executions: LocalExecutions
    settings: Deployment
    services: Services
    # EC2 as strict as AWS, with faults on demand: world.strict.fail_next_start("Unsupported"), ...
    strict: StrictEc2 | None = None

    def close(self) -> None:
        """Let every execution end (inside mock_aws), then stop the runner's threads."""
        self.executions.wait_all(timeout_s=60)
        self.executions.close()

    def wait(self, op_id: str) -> Operation:
        self.executions.wait(op_id)
        op: Operation | None = self.plane.operation(op_id)
        assert op is not None
        return op

    def instance(self) -> dict[str, Any]:
        found: dict[str, Any] = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][
            0
        ]["Instances"][0]
        return found

    def state(self) -> str:
        return str(self.instance()["State"]["Name"])

    def instance_type(self) -> str:
        return str(self.instance()["InstanceType"])

    def volume_size(self) -> int:
        return int(self.ec2.describe_volumes(VolumeIds=[self.volume_id])["Volumes"][0]["Size"])

    def schedules(self) -> list[dict[str, Any]]:
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return [self.scheduler.get_schedule(Name=n, GroupName=GROUP) for n in names]

    def checkpoints(self, op_id: str) -> str:
        """Everything the durable execution of ``op_id`` checkpointed (its input, every step's result,
        every wait's state), as JSON text."""
        execution = self.executions.runner._store.load(self.executions.arns[op_id])
        return json.dumps(execution.to_json_dict(), default=str)

    def step_names(self, op_id: str) -> list[str]:
        op = self.plane.operation(op_id)
        assert op is not None
        return [s.name for s in op.steps if s.name != "wait for the hub"]


def settings(volume_id: str = "", instance_id: str = "i-0", table: str = "workshop-hub") -> Deployment:
    return Deployment(
        table_name=table,
        instance_id=instance_id,
        hub_name="workshop-hub",
        document_names={a: f"workshop-hub-{a}" for a in ACTIONS},
        worker_function_name="workshop-hub-worker",
        schedule_group=GROUP,
        scheduler_role_arn=ROLE,
        schedule_target_arn=TARGET,
        hub_url="http://203.0.113.10",
        volume_id=volume_id,
    )


def build_world(
    config: dict[str, Any] | None = None,
    *,
    start: dt.datetime | None = None,
    inline: bool = True,
    timeouts: Timeouts | None = None,
) -> World:
    """Call inside mock_aws(): a running t3.medium hub with a 30 GiB root volume, the table, the group."""
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(
        ImageId=EXAMPLE_AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.medium",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, "workshop-hub")
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name=GROUP)
    clock = FakeTime(start)
    cfg = config_module.from_json(json.dumps(config or CONFIG))
    the_settings = settings(instance_id=instance_id)
    strict = StrictEc2(ec2, clock=lambda: clock.now_)
    hub_instance = Ec2HubMachine(ec2, instance_id)
    volume_id = hub_instance.volume_id

    def state() -> str:
        return str(
            ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"][
                "Name"
            ]
        )

    def volume() -> int:
        return int(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"])

    hub = FakeHub(instance_state=state, volume_gib=volume)
    from handlers import plane as handler_plane
    from handlers import worker

    executions = LocalExecutions(worker.handler)
    services = Services(
        deployment=the_settings,
        config=cfg,
        stores=dynamodb_stores(dynamodb, "workshop-hub", clock=clock.now),
        hub=hub_instance,
        commands=hub,
        schedules=EventBridgeSchedules(scheduler, GROUP, TARGET, ROLE),
        executions=executions,
        clock=clock.now,
        timeouts=timeouts or Timeouts(),
    )
    plane = ControlPlane(services)
    handler_plane.use_control_plane(plane)
    waiting = WaitingPlane(plane, executions)
    waiting.inline = inline
    return World(
        waiting,
        hub,
        clock,
        ec2,
        scheduler,
        dynamodb,
        instance_id,
        volume_id,
        executions,
        the_settings,
        services,
        strict,
    )


class CallLog:
    """Every EC2 call and its answer, in order (botocore's after-call event)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("after-call.ec2.*", self._record)

    def _record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, parsed))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class _Http:
    status_code = 500
    headers: dict[str, str] = {}  # noqa: RUF012
    content = b""
    text = ""


def no_capacity_for(client: Any, instance_id: str, instance_type: str) -> None:
    """StartInstances fails with InsufficientInstanceCapacity while the instance has ``instance_type``."""
    peek = boto3.client("ec2", region_name=REGION)

    def refuse(**_: Any) -> tuple[_Http, dict[str, Any]] | None:
        current = peek.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if current["InstanceType"] != instance_type:
            return None
        message = f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested."
        return _Http(), {"Error": {"Code": "InsufficientInstanceCapacity", "Message": message}}

    client.meta.events.register("before-call.ec2.StartInstances", refuse)

"""A control plane against moto (mock_aws) with a fake hub behind InstanceCommands (fake_hub.FakeHub,
offline unless the moto instance is running)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import boto3
from workshop_hub import config as config_module
from workshop_hub.adapters.dynamodb import create_table, dynamodb_stores
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.adapters.local_executions import LocalExecutions
from workshop_hub.adapters.scheduler import EventBridgeSchedules
from workshop_hub.control_plane import ControlPlane
from workshop_hub.deployment import Deployment
from workshop_hub.operations import Operation
from workshop_hub.ports import ACTIONS
from workshop_hub.services import Services, Timeouts

from tests.support.fake_hub import FakeHub, FakeTime
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
    skip_time: bool = True,
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

    executions = LocalExecutions(worker.handler, skip_time=skip_time)
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

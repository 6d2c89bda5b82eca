"""A ControlPlane on moto (mock_aws): a real EC2 instance and volume, the real DynamoDB table, a
Scheduler group; hubagent replaced by a recorder, so a test can say "no command was sent".

    with moto_hub() as hub:
        hub.plane.submit("start", {})
        hub.commands.calls   # [(action, params), ...]
        hub.table_items()    # everything recorded
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import agent_answers

REGION = "eu-west-1"
TABLE = "workshop-hub-control"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordingCommands(agent_answers.AtOnce):
    """InstanceCommands that records each action and answers as a healthy hubagent would."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    users: dict[str, bool] = field(default_factory=dict)  # what users-list answers

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        if action == "health":
            return {"ok": True, "hub_ok": True, "installed": True, "hub_version": "5.2.1"}
        if action == "users-list":
            return {"ok": True, **agent_answers.users_list(self.users, params.get("After", ""))}
        if action == "users-add":
            names = params["Usernames"].split()
            self.users.update(dict.fromkeys(names, params["Admin"] == "true"))
            return {"ok": True, "changed": True, "created": names}
        if action == "users-remove":
            self.users.pop(params["Username"], None)
        if action == "users-set-passwords":
            names = [item.split(":", 1)[0] for item in params["Credentials"].split()]
            return {"ok": True, "changed": True, "set": names, "kept": []}
        if action == "activity":
            return {"ok": True, **agent_answers.activity(int(params.get("Minutes", "15")), [])}
        if action == "signup-list":
            return {"ok": True, "changed": False, "spool": "", "count": 0, "signups": [], "next": None}
        return {"ok": True, "changed": True}

    @property
    def sent(self) -> list[tuple[str, dict[str, str]]]:
        """The commands that change something (health checks and listings left out)."""
        return [c for c in self.calls if c[0] not in ("health", "users-list", "activity", "signup-list")]


@dataclass
class MotoHub:
    plane: Any
    commands: RecordingCommands
    executions: Any  # LocalExecutions: the real worker handler under the durable SDK's local runner
    dynamodb: Any
    ec2: Any
    instance_id: str
    # EC2 as strict as AWS, with faults on demand (tests/support/strict_ec2.py)
    strict: Any = None

    def table_items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=TABLE)["Items"])

    def reset(self) -> None:
        """Back to a fresh hub (cheaper than a new mock_aws: moto's EC2 takes seconds to start)."""
        self.executions.wait_all()
        self.executions.arns.clear()
        for item in self.table_items():
            self.dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
        self.commands.calls.clear()
        self.commands.users.clear()
        if self.strict is not None:
            self.strict.reset()
        instance = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][0][
            "Instances"
        ][0]
        if instance["InstanceType"] != "t3.medium":
            self.ec2.stop_instances(InstanceIds=[self.instance_id])
            self.ec2.modify_instance_attribute(
                InstanceId=self.instance_id, InstanceType={"Value": "t3.medium"}
            )
        self.ec2.start_instances(InstanceIds=[self.instance_id])

    def run_all(self) -> None:
        """Let every started operation end, as the worker would."""
        self.executions.wait_all()


@contextmanager
def moto_hub(config_path: Path | None = None) -> Iterator[MotoHub]:
    import boto3
    from handlers import plane as handler_plane
    from handlers import worker
    from moto import mock_aws
    from workshop_hub import config as config_module
    from workshop_hub.adapters.dynamodb import create_table, dynamodb_stores
    from workshop_hub.adapters.ec2 import Ec2HubMachine
    from workshop_hub.adapters.local_executions import LocalExecutions
    from workshop_hub.adapters.scheduler import EventBridgeSchedules
    from workshop_hub.control_plane import ControlPlane
    from workshop_hub.deployment import Deployment
    from workshop_hub.ports import ACTIONS
    from workshop_hub.services import Services, Timeouts

    from tests.support.strict_ec2 import StrictEc2

    saved = {
        k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    try:
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            instance = ec2.run_instances(
                ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium"
            )
            instance_id = instance["Instances"][0]["InstanceId"]
            strict = StrictEc2(ec2)
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            create_table(dynamodb, TABLE)
            scheduler = boto3.client("scheduler", region_name=REGION)
            # The stack's names (stacks/constructs/hub_schedules.py), so the IAM contract check matches them.
            scheduler.create_schedule_group(Name="workshop-hub-schedules")
            settings = Deployment(
                table_name=TABLE,
                instance_id=instance_id,
                hub_name="workshop-hub",
                document_names={a: f"workshop-hub-{a}" for a in ACTIONS},
                worker_function_name="workshop-hub-worker",
                schedule_group="workshop-hub-schedules",
                scheduler_role_arn="arn:aws:iam::123456789012:role/scheduler",
                schedule_target_arn="arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-schedule",
                hub_url="http://203.0.113.10",
            )
            commands = RecordingCommands()
            executions = LocalExecutions(worker.handler)
            plane = ControlPlane(
                Services(
                    deployment=settings,
                    config=config_module.load(config_path or ROOT / "workshop.yaml"),
                    stores=dynamodb_stores(dynamodb, TABLE),
                    hub=Ec2HubMachine(ec2, instance_id),
                    commands=commands,
                    schedules=EventBridgeSchedules(
                        scheduler,
                        settings.schedule_group,
                        settings.schedule_target_arn,
                        settings.scheduler_role_arn,
                    ),
                    executions=executions,
                    timeouts=Timeouts(state_every_s=1, health_every_s=1, volume_every_s=1),
                )
            )
            handler_plane.use_control_plane(plane)
            try:
                yield MotoHub(plane, commands, executions, dynamodb, ec2, instance_id, strict)
            finally:
                executions.wait_all()
                executions.close()
                handler_plane.use_control_plane(None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dumps(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, indent=1, default=str)

"""The wiring root: the ControlPlane every function uses, built from the function's environment
(workshop_hub/deployment.py) with the AWS adapters, once per execution environment: on the first event,
not at import (so a cold start that fails reports why in the invocation's log). The tests and the local
sandbox hand in a ControlPlane wired their own way (``use_control_plane``)."""

from __future__ import annotations

from collections.abc import Mapping

import boto3
from workshop_hub import config
from workshop_hub.adapters.dynamodb import dynamodb_stores
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.adapters.executions import LambdaExecutions
from workshop_hub.adapters.scheduler import EventBridgeSchedules
from workshop_hub.adapters.ssm_commands import SsmCommands
from workshop_hub.control_plane import ControlPlane
from workshop_hub.deployment import Deployment
from workshop_hub.services import Services

_plane: ControlPlane | None = None


def from_environment(environ: Mapping[str, str] | None = None) -> ControlPlane:
    """The control plane on AWS: boto3's default session, the deployment's names, the deployed
    workshop.json."""
    deployment = Deployment.from_env(environ)
    ec2 = boto3.client("ec2")
    return ControlPlane(
        Services(
            deployment=deployment,
            config=config.from_json(deployment.config_path.read_text(encoding="utf-8")),
            stores=dynamodb_stores(boto3.client("dynamodb"), deployment.table_name),
            hub=Ec2HubMachine(ec2, deployment.instance_id, deployment.volume_id),
            commands=SsmCommands(boto3.client("ssm"), ec2, deployment.instance_id, deployment.document_names),
            schedules=EventBridgeSchedules(
                boto3.client("scheduler"),
                deployment.schedule_group,
                deployment.schedule_target_arn,
                deployment.scheduler_role_arn,
            ),
            executions=LambdaExecutions(boto3.client("lambda"), deployment.worker_function_name),
        )
    )


def control_plane() -> ControlPlane:
    global _plane
    if _plane is None:
        _plane = from_environment()
    return _plane


def use_control_plane(plane: ControlPlane | None) -> None:
    """Use ``plane`` from now on (None: build it from the environment again at the next event)."""
    global _plane
    _plane = plane

"""moto's server as the sandbox's AWS: started, then seeded with the hub's resources as the stacks
describe them (a VPC and subnet, the hub instance of hub.instance_type with a gp3 root volume of
hub.volume_gib, the table, hubagent's SSM documents, the Scheduler group and its schedules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubctl.sandbox.layout import ACCOUNT

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from workshop_hub.config import WorkshopConfig

# The hub's image id (moto runs an instance of any id; its default AMIs are not loaded).
UBUNTU_AMI = "ami-0a1b2c3d4e5f60718"
ROOT_DEVICE = "/dev/sda1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_SESSION_TOKEN": "sandbox",
}


def aws_env(endpoint: str, region: str) -> dict[str, str]:
    """What the Lambda code's boto3 needs to talk to moto instead of AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **CREDENTIALS,
        # never reach for real credentials or instance metadata
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def start_moto(port: int, log_file: Path) -> subprocess.Popen[bytes]:
    # moto's 1300 default AMIs take seconds to load and the hub needs none of them.
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    with log_file.open("ab") as log:
        return subprocess.Popen(
            # moto's server, one request at a time: each AWS request atomic, as on AWS (moto_service.py)
            [sys.executable, "-m", "hubctl.sandbox.moto_service", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_moto(endpoint: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"moto_server did not answer on {endpoint} in {timeout_s:.0f} s")


@dataclass(frozen=True)
class Names:
    """The names the stacks give the control plane's resources, for one hub."""

    hub: str

    @property
    def table(self) -> str:
        return f"{self.hub}-state"

    @property
    def schedule_group(self) -> str:
        return f"{self.hub}-schedules"  # stacks/constructs/hub_schedules.py group_name

    def schedule(self, spec_name: str) -> str:
        return f"{self.hub}-{spec_name}"[:64]  # as HubSchedules names them

    def document(self, action: str) -> str:
        return f"{self.hub}-{action}"  # stacks/constructs/agent_documents.py document_name

    def function_arn(self, region: str, which: str) -> str:
        return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{self.hub}-{which}"

    @property
    def scheduler_role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{self.hub}-scheduler"


@dataclass(frozen=True)
class Seeded:
    instance_id: str
    volume_id: str
    document_names: dict[str, str]


def seed(config: WorkshopConfig, names: Names, env: dict[str, str]) -> Seeded:
    """Create the hub's resources in moto."""
    import boto3
    from hubagent import documents
    from workshop_hub.adapters.dynamodb import create_table
    from workshop_hub.ports import ACTIONS

    region = config.hub.region
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=region,
    )
    endpoint = env["AWS_ENDPOINT_URL"]
    ec2 = session.client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/24")["Subnet"]["SubnetId"]
    reservation = ec2.run_instances(
        ImageId=UBUNTU_AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType=config.hub.instance_type,  # type: ignore[arg-type]
        SubnetId=subnet,
        BlockDeviceMappings=[
            {
                "DeviceName": ROOT_DEVICE,
                "Ebs": {"VolumeSize": config.hub.volume_gib, "VolumeType": "gp3", "Encrypted": True},
            }
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": config.hub.name}]},
        ],
    )
    instance = reservation["Instances"][0]
    instance_id = instance["InstanceId"]
    volume_id = next(
        m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == ROOT_DEVICE
    )
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "Name", "Value": f"{config.hub.name}-root"}])

    create_table(session.client("dynamodb", endpoint_url=endpoint), names.table)

    ssm = session.client("ssm", endpoint_url=endpoint)
    document_names: dict[str, str] = {}
    for action in ACTIONS:
        name = names.document(action)
        content = documents.document(
            action, f"https://{config.hub.name}-assets.s3.{region}.amazonaws.com/hubagent.zip"
        )
        ssm.create_document(
            Name=name, Content=json.dumps(content), DocumentType="Command", DocumentFormat="JSON"
        )
        document_names[action] = name

    scheduler = session.client("scheduler", endpoint_url=endpoint)
    scheduler.create_schedule_group(Name=names.schedule_group)
    create_schedules(scheduler, config, names, region)
    return Seeded(instance_id=instance_id, volume_id=volume_id, document_names=document_names)


def create_schedules(
    scheduler: EventBridgeSchedulerClient, config: WorkshopConfig, names: Names, region: str
) -> list[str]:
    """The recurring and session schedules of workshop.yaml, as the control stack creates them."""
    import datetime as dt

    from workshop_hub.schedules import schedule_specs

    created = []
    for spec in schedule_specs(config, now=dt.datetime.now(dt.UTC)):
        scheduler.create_schedule(
            Name=names.schedule(spec.name),
            GroupName=names.schedule_group,
            ScheduleExpression=spec.expression,
            ScheduleExpressionTimezone=spec.timezone,
            Description=spec.description[:512],
            FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED",
            Target={
                "Arn": names.function_arn(region, "schedule"),
                "RoleArn": names.scheduler_role_arn,
                "Input": json.dumps(spec.payload),
            },
        )
        created.append(spec.name)
    return created


def environ_for_lambdas(
    config: WorkshopConfig, names: Names, seeded: Seeded, env: dict[str, str], hub_url: str, config_path: Path
) -> dict[str, str]:
    """The environment the control stack gives its functions (workshop_hub.deployment), pointing at moto."""
    region = config.hub.region
    return {
        **env,
        "TABLE_NAME": names.table,
        "INSTANCE_ID": seeded.instance_id,
        "VOLUME_ID": seeded.volume_id,
        "HUB_NAME": config.hub.name,
        "DOCUMENT_NAMES": json.dumps(seeded.document_names, sort_keys=True),
        "WORKER_FUNCTION_NAME": names.function_arn(region, "worker"),
        "SCHEDULE_GROUP": names.schedule_group,
        "SCHEDULER_ROLE_ARN": names.scheduler_role_arn,
        "SCHEDULE_TARGET_ARN": names.function_arn(region, "schedule"),
        "HUB_URL": hub_url,
        "CONFIG_PATH": str(config_path),
        "POWERTOOLS_SERVICE_NAME": config.hub.name,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "WorkshopHub",
        "POWERTOOLS_DEV": "false",
    }

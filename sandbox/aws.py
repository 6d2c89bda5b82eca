"""moto's server as the sandbox's AWS: started, then seeded with the hub's resources as the stacks
describe them (a VPC and subnet, the hub instance of hub.instance_type with a gp3 root volume of
hub.volume_gib, the table, hubagent's SSM documents, the Scheduler group and its schedules)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from hubagent import documents
from hubagent.files import write_secret
from workshop_hub.adapters.dynamodb import create_table
from workshop_hub.ports import ACTIONS
from workshop_hub.schedules import schedule_specs

from sandbox import procs
from sandbox.layout import ACCOUNT, CREDENTIALS_FILE, Layout, default_root

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from workshop_hub.config import WorkshopConfig

# The hub's image id (moto runs an instance of any id; its default AMIs are not loaded).
UBUNTU_AMI = "ami-0a1b2c3d4e5f60718"
ROOT_DEVICE = "/dev/sda1"
ACCESS_KEY_ID = "sandbox"  # not a secret: the secret key is (moto_service checks the signature)


def credentials(layout: Layout, *, create: bool = False) -> dict[str, str]:
    """The sandbox's AWS key (aws/credentials, 0600 in a 0700 folder); ``create``: make it at the
    first ``up``."""
    path = layout.aws_dir / CREDENTIALS_FILE
    if create and not path.is_file():
        layout.aws_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": secrets.token_urlsafe(30)}
        write_secret(path, json.dumps(key) + "\n")
    return layout.aws_credentials()


def aws_env(endpoint: str, region: str) -> dict[str, str]:
    """What the Lambda code's boto3 needs to talk to the sandbox's moto instead of AWS, but the key
    (``key_env``: state.json does not carry it)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # never reach for real credentials or instance metadata
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def key_env(layout: Layout) -> dict[str, str]:
    """The sandbox's AWS key as boto3's environment variables."""
    key = credentials(layout)
    return {"AWS_ACCESS_KEY_ID": key["access_key_id"], "AWS_SECRET_ACCESS_KEY": key["secret_access_key"]}


def client(service: str, layout: Layout | None = None, state: dict[str, Any] | None = None) -> Any:
    """A boto3 client for the running sandbox's moto, signed with its key: what hubctl --sandbox and
    the tests use (moto answers nothing else)."""
    layout = layout or Layout(default_root())
    state = state if state is not None else layout.read_state()
    if not state or "moto_url" not in state:
        raise RuntimeError("the local sandbox is not running (make up)")
    key = credentials(layout)
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=str(state["region"]),
        endpoint_url=str(state["moto_url"]),
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
    )


def start_moto(port: int, layout: Layout, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    credentials(layout, create=True)
    # moto's 1300 default AMIs take seconds to load and the hub needs none of them.
    # moto's server: one request at a time, signed requests only, its state kept (moto_service.py)
    return procs.start_module(
        ["sandbox.moto_service", str(port), str(layout.aws_dir)],
        layout.logs / "moto.log",
        {**environment, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
    )


def wait_moto(endpoint: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Until moto answers (it opens its port once the kept state is loaded: a long log takes a while)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/", timeout=1):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # 403 to an unsigned request: it answers
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
    created: bool = True  # False: the hub was found in the kept state


def ensure_hub(config: WorkshopConfig, names: Names, env: dict[str, str]) -> Seeded:
    """The hub's resources in moto: the kept ones when the hub's instance is there (its type, volume,
    snapshots, table and one-time schedules as the last run left them), else new ones. Either way, as
    a deploy would: hubagent's documents from the code (SSM is not kept) and the recurring and session
    schedules from workshop.yaml."""
    region = config.hub.region
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    endpoint = env["AWS_ENDPOINT_URL"]
    ec2 = session.client("ec2", endpoint_url=endpoint)
    found = find_instance(ec2, config.hub.name)
    instance_id, volume_id = found or launch(ec2, config)

    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    if names.table not in dynamodb.list_tables()["TableNames"]:
        create_table(dynamodb, names.table)
    document_names = create_documents(session.client("ssm", endpoint_url=endpoint), config, names)
    scheduler = session.client("scheduler", endpoint_url=endpoint)
    groups = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    if names.schedule_group not in groups:
        scheduler.create_schedule_group(Name=names.schedule_group)
    for schedule in scheduler.list_schedules(GroupName=names.schedule_group)["Schedules"]:
        if schedule["Name"].startswith(f"{names.hub}-"):  # workshop.yaml's own, made again below
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=names.schedule_group)
    create_schedules(scheduler, config, names, region)
    return Seeded(instance_id, volume_id, document_names, created=found is None)


def find_instance(ec2: Any, hub_name: str) -> tuple[str, str] | None:
    """(instance id, root volume id) of the hub's instance in the kept state, or None."""
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [hub_name]}])
    for reservation in reservations["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] in ("terminated", "shutting-down"):
                continue
            volume = next(
                (
                    m["Ebs"]["VolumeId"]
                    for m in instance["BlockDeviceMappings"]
                    if m["DeviceName"] == ROOT_DEVICE
                ),
                None,
            )
            if volume:
                return str(instance["InstanceId"]), str(volume)
    return None


def launch(ec2: Any, config: WorkshopConfig) -> tuple[str, str]:
    """A VPC, a subnet and the hub's instance with its gp3 root volume, as the hub stack makes them."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/24")["Subnet"]["SubnetId"]
    reservation = ec2.run_instances(
        ImageId=UBUNTU_AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType=config.hub.instance_type,
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
    volume_id = next(
        m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == ROOT_DEVICE
    )
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "Name", "Value": f"{config.hub.name}-root"}])
    return str(instance["InstanceId"]), str(volume_id)


def create_documents(ssm: Any, config: WorkshopConfig, names: Names) -> dict[str, str]:
    """hubagent's SSM documents, one per action, from the code."""
    region = config.hub.region
    document_names: dict[str, str] = {}
    existing = {
        d["Name"]
        for d in ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Self"]}])["DocumentIdentifiers"]
    }
    for action in ACTIONS:
        name = names.document(action)
        content = documents.document(
            action, f"https://{config.hub.name}-assets.s3.{region}.amazonaws.com/hubagent.zip"
        )
        if name not in existing:
            ssm.create_document(
                Name=name, Content=json.dumps(content), DocumentType="Command", DocumentFormat="JSON"
            )
        document_names[action] = name
    return document_names


def create_schedules(
    scheduler: EventBridgeSchedulerClient, config: WorkshopConfig, names: Names, region: str
) -> list[str]:
    """The recurring and session schedules of workshop.yaml, as the control stack creates them."""
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

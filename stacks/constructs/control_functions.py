"""The control plane's functions: one thin handler per trigger, each with a role that names its actions
and resources.

| function  | triggered by                           | may                                                       |
|-----------|----------------------------------------|-----------------------------------------------------------|
| api       | API Gateway                            | read/write state, hand operations to the worker, ask hubagent for health (status) |
| worker    | async invoke (one operation at a time) | start/stop/resize the instance, grow its volume, run every hubagent document, postpone the night stop (one-time schedules) |
| reconcile | EC2 state change -> running            | read/write state, hand a reconcile to the worker          |
| schedule  | EventBridge Scheduler                  | read/write state, hand scheduled operations to the worker, retry later (one-time schedules) when the hub is busy |

Powertools (with pydantic) comes from the AWS-published layer, boto3 from the runtime; the asset holds
only our code (stacks/bundles.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from workshop_hub.config import WorkshopConfig

from stacks import bundles, nag

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# The AWS-published Powertools for AWS Lambda (Python) v3 layer; keep the version of
# aws-lambda-powertools in pyproject.toml to the one this layer ships.
POWERTOOLS_LAYER = (
    "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:{version}"
)
POWERTOOLS_LAYER_VERSION = 27

# How long each function may run. The worker's operations wait for EC2 (a resize is two state changes
# and a hub start; a grow waits for EBS), so it gets Lambda's maximum.
TIMEOUTS = {"api": 29, "worker": 900, "reconcile": 60, "schedule": 120}
MEMORY_MB = 512


def service_name(function: str) -> str:
    """The Powertools service of a function: its logs' ``service`` and its metrics' dimension."""
    return f"workshop-hub-{function}"


class ControlFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: WorkshopConfig,
        table_arn: str,
        table_name: str,
        instance_id: str,
        volume_id: str,
        document_names: Mapping[str, str],
        hub_url: str,
        schedule_group_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        stage = Stage.of(self)
        if stage is None:
            raise ValueError(
                "ControlFunctions must be inside a CDK App or Stage (it stages the Lambda asset)"
            )
        staging = Path(stage.outdir) / ".lambda-staging"
        staging.mkdir(parents=True, exist_ok=True)
        code = lambda_.Code.from_asset(str(bundles.stage_lambda(staging, config)))
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            POWERTOOLS_LAYER.format(
                partition=stack.partition, region=stack.region, version=POWERTOOLS_LAYER_VERSION
            ),
        )

        # Named, not generated: each function's environment names the others (and itself) without a
        # circular reference in the template.
        self.names = {name: f"{config.hub.name}-{name}" for name in TIMEOUTS}
        self.functions: dict[str, lambda_.Function] = {}
        self.functions_roles: dict[str, iam.Role] = {}
        for name in TIMEOUTS:
            self.functions[name] = self._function(name, code, powertools, config)
        schedule_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=self.names["schedule"],
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.api, self.worker = self.functions["api"], self.functions["worker"]
        self.reconcile, self.schedule = self.functions["reconcile"], self.functions["schedule"]

        # The role EventBridge Scheduler assumes to run the schedule function (recurring schedules and the
        # one-time postponements the night stop creates).
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"workshop-hub {config.hub.name}: EventBridge Scheduler invokes the schedule function",
        )
        self.scheduler_role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[schedule_arn])
        )

        environment = {
            "TABLE_NAME": table_name,
            "INSTANCE_ID": instance_id,
            "VOLUME_ID": volume_id,
            "HUB_NAME": config.hub.name,
            "HUB_URL": hub_url,
            "DOCUMENT_NAMES": json.dumps(dict(document_names), sort_keys=True),
            "WORKER_FUNCTION_NAME": self.names["worker"],
            "SCHEDULE_GROUP": schedule_group_name,
            "SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn,
            "SCHEDULE_TARGET_ARN": schedule_arn,
            "POWERTOOLS_METRICS_NAMESPACE": "WorkshopHub",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        for name, function in self.functions.items():
            for key, value in environment.items():
                function.add_environment(key, value)
            function.add_environment("POWERTOOLS_SERVICE_NAME", service_name(name))

        instance_arn = stack.format_arn(service="ec2", resource="instance", resource_name=instance_id)
        volume_arn = stack.format_arn(service="ec2", resource="volume", resource_name=volume_id)
        document_arn = {
            action: stack.format_arn(service="ssm", resource="document", resource_name=document)
            for action, document in document_names.items()
        }

        for function in self.functions.values():
            self._allow(
                function,
                [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
                [table_arn],
            )
            # Describe* calls cannot be limited to a resource (IAM has no resource type for them).
            self._allow(
                function,
                ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications"],
                ["*"],
            )
        for name in ("api", "reconcile", "schedule"):
            self._allow(self.functions[name], ["lambda:InvokeFunction"], [self.worker.function_arn])

        self._allow_commands(self.api, instance_arn, [document_arn["health"]])
        self._allow_commands(self.worker, instance_arn, list(document_arn.values()))

        self._allow(
            self.worker,
            ["ec2:StartInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute"],
            [instance_arn],
        )
        self._allow(self.worker, ["ec2:ModifyVolume"], [volume_arn])
        snapshots = stack.format_arn(service="ec2", resource="snapshot", resource_name="*", account="")
        self._allow(self.worker, ["ec2:CreateSnapshot"], [volume_arn, snapshots])
        self.worker.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateTags"],
                resources=[snapshots],
                conditions={"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
            )
        )
        self.worker.add_to_role_policy(
            iam.PolicyStatement(actions=["ec2:DescribeSnapshots"], resources=["*"])
        )

        schedules = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{schedule_group_name}/*"
        )
        for name in ("worker", "schedule"):
            self._allow(
                self.functions[name],
                ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
                [schedules],
            )
            self._allow(self.functions[name], ["iam:PassRole"], [self.scheduler_role.role_arn])

        for role in self.functions_roles.values():
            nag.acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Only for actions that have no resource type in IAM: ec2:Describe* (instance, volume, "
                "modification and snapshot state), ssm:GetCommandInvocation (a command's result) and X-Ray's "
                "PutTraceSegments/PutTelemetryRecords. Every mutating action names its resource.",
            )
        nag.acknowledge(
            self.functions_roles["worker"],
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, snapshots)}]",
            "The pre-grow snapshot's id does not exist before CreateSnapshot; tagging is limited to the "
            "CreateSnapshot call (ec2:CreateAction condition).",
        )
        for name in ("worker", "schedule"):
            nag.acknowledge(
                self.functions_roles[name],
                f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, schedules)}]",
                "One-time schedules (the night stop's postponement, a retry while the hub is busy) have "
                "generated names; they are created and deleted inside the hub's own schedule group only.",
            )
        nag.acknowledge(
            self.scheduler_role,
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, self.schedule.function_arn)}:*]",
            "Scheduler's Lambda target grants invoke on the schedule function and its versions (ARN:*): the "
            "same function, nothing else.",
        )
        for function in self.functions.values():
            nag.acknowledge(
                function,
                "AwsSolutions-L1",
                f"Python {RUNTIME.name.removeprefix('python')} is the newest runtime the pinned Powertools layer "
                "(AWSLambdaPowertoolsPythonV3-python313) is published for; move both together.",
            )

    def _function(
        self, name: str, code: lambda_.Code, powertools: lambda_.ILayerVersion, config: WorkshopConfig
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name.title()}Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{name.title()}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"workshop-hub {config.hub.name}: the {name} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        self.functions_roles[name] = role
        return lambda_.Function(
            self,
            name.title(),
            function_name=self.names[name],
            description=f"workshop-hub {config.hub.name}: {name}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            handler=f"handlers.{name}.handler",
            layers=[powertools],
            timeout=Duration.seconds(TIMEOUTS[name]),
            memory_size=MEMORY_MB,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )

    @staticmethod
    def _allow(function: lambda_.Function, actions: list[str], resources: Iterable[str]) -> None:
        function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=list(resources)))

    def _allow_commands(self, function: lambda_.Function, instance_arn: str, documents: list[str]) -> None:
        self._allow(function, ["ssm:SendCommand"], [instance_arn, *documents])
        self._allow(function, ["ssm:GetCommandInvocation", "ssm:DescribeInstanceInformation"], ["*"])

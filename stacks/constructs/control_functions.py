"""The control plane's functions: one thin handler per trigger, each with a role that names its actions
and resources.

| function  | triggered by                           | may                                                       |
|-----------|----------------------------------------|-----------------------------------------------------------|
| api       | API Gateway                            | read/write state, hand operations to the worker, ask hubagent for health (status) and the sign-up door's walk-ins (users) |
| worker    | async invoke of its `live` alias (a durable execution per operation) | start/stop/resize the instance, grow its volume, run every hubagent document, postpone the night stop (one-time schedules), start follow-up operations |
| reconcile | EC2 state change -> running            | read/write state, hand a reconcile to the worker          |
| schedule  | EventBridge Scheduler                  | read/write state, hand scheduled operations to the worker, retry later (one-time schedules) when the hub is busy |

Powertools (with pydantic) comes from the AWS-published layer of the release pyproject.toml pins
(stacks/powertools.py); the asset holds our code, the durable execution SDK, the boto3 it needs and tzdata
(stacks/bundles.py).

The worker is a Lambda durable function: an operation is one durable execution, named by its operation id.
A durable function is invoked by a qualified ARN only, so every function's WORKER_FUNCTION_NAME is the
ARN of the worker's ``live`` alias, which points at the version this deploy published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from aws_cdk import ArnFormat, AssetHashType, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from workshop_hub.config import WorkshopConfig

from stacks import bundles, nag, powertools

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

# How long one invocation of each function may run. The worker's operations are durable executions that
# outlive an invocation (waits suspend it); 900 s bounds one replay's work between checkpoints.
TIMEOUTS = {"api": 29, "worker": 900, "reconcile": 60, "schedule": 120}
MEMORY_MB = 512

# How long one operation (a durable execution) may take from start to end, waits included. The worst case
# is a resize that fails after the stop and rolls back (two stop/start cycles, two health waits: under an
# hour), or a reconcile that installs large conda environments and retries with backoff (a few hours);
# 6 hours bounds both with room, and a stuck execution ends the same day, freeing the hub's lease.
WORKER_EXECUTION_TIMEOUT = Duration.hours(6)
# Lambda keeps an ended execution's history this long (the operations themselves stay in the table).
WORKER_EXECUTION_RETENTION = Duration.days(14)
WORKER_ALIAS = "live"
# Who writes one-time schedules in the hub's group (and passes Scheduler its role), and how: the worker
# postpones the night stop; the api moves the stop that waits for keep-awake's end (deletes, creates).
SCHEDULE_WRITERS = {"worker": ("CreateSchedule",), "api": ("CreateSchedule", "DeleteSchedule")}
# cdk.json/-c key: the ARN of the account's default EBS key, when it is a customer-managed key.
EBS_KMS_KEY_CONTEXT_KEY = "ebs-kms-key-arn"

# The table actions each function's code makes (workshop_hub/store): the api records requests and the
# roster and reads operations in batches (BatchWriteItem and BatchGetItem are actions of their own) and
# releases the Idempotency-Key of a request that failed; the worker also releases the lease and removes
# users and reads the roster in batches (initial passwords); the schedule and reconcile functions submit
# operations, and the schedule function records a session's sign-up window in the desired state (it reads
# the desired state, a query, and updates its door fields: kinds/signup.py).
# The IAM contract check in the tests keeps this table true both ways.
TABLE_ACTIONS = {
    "api": ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem", "BatchGetItem"),
    "worker": ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem", "BatchGetItem"),
    "reconcile": ("GetItem", "PutItem", "Query"),
    "schedule": ("GetItem", "PutItem", "UpdateItem", "Query"),
}


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
        # Staged once per content (the folder is named by its hash, ~3,000 files with boto3) in the cache shared
        # by every synth, and handed to CDK with that hash, so CDK does not fingerprint it again.
        staging = bundles.wheel_cache() / "lambda-staging"
        staging.mkdir(parents=True, exist_ok=True)
        staged = bundles.stage_lambda(staging, config)
        code = lambda_.Code.from_asset(
            str(staged),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=staged.name.rsplit("-", 1)[-1],
        )
        # Resolved by CloudFormation at deploy time in the stack's Region: the layer of exactly this release.
        self.powertools_release = powertools.pinned_release()
        powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            ssm.StringParameter.value_for_string_parameter(
                self, powertools.layer_parameter(self.powertools_release)
            ),
        )

        # Named, not generated: each function's environment names the others (and itself) without a
        # circular reference in the template.
        self.names = {name: f"{config.hub.name}-{name}" for name in TIMEOUTS}
        self.functions: dict[str, lambda_.Function] = {}
        self.functions_roles: dict[str, iam.Role] = {}
        for name in TIMEOUTS:
            self.functions[name] = self._function(name, code, powertools_layer, config)
        schedule_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=self.names["schedule"],
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.api, self.worker = self.functions["api"], self.functions["worker"]
        self.reconcile, self.schedule = self.functions["reconcile"], self.functions["schedule"]
        # A durable function runs only through a qualified ARN: each deploy publishes a version and moves
        # the alias to it, so running executions keep replaying the code they started with.
        self.worker_alias = lambda_.Alias(
            self, "WorkerLive", alias_name=WORKER_ALIAS, version=self.worker.current_version
        )
        # Built from the names, not the alias's attribute: the worker's own environment names it, and a
        # reference would make the function depend on its own version.
        self.worker_alias_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=f"{self.names['worker']}:{WORKER_ALIAS}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.worker_function_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=self.names["worker"],
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Durable executions are sub-resources of a version (…:function:NAME:VERSION/durable-execution/…);
        # IAM matches them on the function ARN with a qualifier wildcard, never through the alias.
        self.worker_executions_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=f"{self.names['worker']}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

        # The role EventBridge Scheduler assumes to run the schedule function (recurring schedules and the
        # one-time postponements the night stop creates).
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            # Only this account's hub group may use it (Scheduler's confused-deputy guide: the GROUP's ARN).
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {
                        "aws:SourceArn": stack.format_arn(
                            service="scheduler", resource="schedule-group", resource_name=schedule_group_name
                        )
                    },
                },
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
            "WORKER_FUNCTION_NAME": self.worker_alias_arn,
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

        # Each function's table actions are the ones its code makes (the IAM contract check in the tests
        # fails on a call its role lacks, and on a grant no call uses).
        for name, actions in TABLE_ACTIONS.items():
            self._allow(self.functions[name], [f"dynamodb:{a}" for a in actions], [table_arn])
        # Describe* calls cannot be limited to a resource (IAM has no resource type for them).
        for function in (self.api, self.worker):
            self._allow(
                function,
                ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications"],
                ["*"],
            )
        # Before a resize: is the new type offered in the hub's Availability Zone?
        self._allow(self.worker, ["ec2:DescribeInstanceTypeOfferings"], ["*"])
        # The api, the schedules and the reconcile start operations. The worker, waiting for its turn, asks
        # whether the lease holder's execution still runs (ListDurableExecutionsByFunction by name: granted on
        # the function and on its qualified ARNs, as Lambda's docs leave open which it checks).
        for function in (self.api, self.reconcile, self.schedule):
            self._allow(function, ["lambda:InvokeFunction"], [self.worker_alias_arn])
        self._allow(
            self.worker,
            ["lambda:ListDurableExecutionsByFunction"],
            [self.worker_function_arn, self.worker_executions_arn],
        )
        # What the durable execution SDK calls inside the worker (Lambda docs, durable-security).
        self._allow(
            self.worker,
            ["lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"],
            [self.worker_executions_arn],
        )
        # The hand-off: the operation that releases the hub completes the next waiter's callback. A
        # callback belongs to a durable execution (authorized on its ARN, a sub-resource of a version).
        self._allow(self.worker, ["lambda:SendDurableExecutionCallbackSuccess"], [self.worker_executions_arn])

        # GET /status asks for health; GET /users reads the sign-up door's walk-ins while it is open.
        self._allow_commands(self.api, instance_arn, [document_arn["health"], document_arn["signup-list"]])
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

        # An account whose default EBS key is a customer-managed key: starting the instance and snapshotting its
        # volume make EC2 use that key on the worker's behalf, which the key's users must be allowed. Given
        # with -c ebs-kms-key-arn=ARN; only through EC2 in this Region (kms:ViaService).
        ebs_key = self.node.try_get_context(EBS_KMS_KEY_CONTEXT_KEY)
        if ebs_key:
            self.worker.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:ReEncryptFrom",
                        "kms:ReEncryptTo",
                    ],
                    resources=[str(ebs_key)],
                    conditions={"StringEquals": {"kms:ViaService": f"ec2.{stack.region}.amazonaws.com"}},
                )
            )

        schedules = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{schedule_group_name}/*"
        )
        # One-time schedules delete themselves after they ran (ActionAfterCompletion DELETE). The worker
        # postpones the night stop; the api moves the stop that waits for keep-awake's end (delete, create).
        for name, actions in SCHEDULE_WRITERS.items():
            self._allow(self.functions[name], [f"scheduler:{a}" for a in actions], [schedules])
            self._allow(self.functions[name], ["iam:PassRole"], [self.scheduler_role.role_arn])

        for role in self.functions_roles.values():
            nag.acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Only for actions that have no resource type in IAM: ec2:Describe* (instance, volume, "
                "modification state, type offerings), ssm:GetCommandInvocation and ssm:CancelCommand (a command "
                "by its id) and X-Ray's PutTraceSegments/PutTelemetryRecords. Every other action names its "
                "resource.",
            )
        nag.acknowledge(
            self.functions_roles["worker"],
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, self.worker_executions_arn)}]",
            "The worker's durable executions: IAM matches them as sub-resources of a version "
            "(function:NAME:VERSION/durable-execution/...), and the version changes with every deploy; "
            "the wildcard stays inside the worker function (Lambda docs, durable-security).",
        )
        nag.acknowledge(
            self.functions_roles["worker"],
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, snapshots)}]",
            "The pre-grow snapshot's id does not exist before CreateSnapshot; tagging is limited to the "
            "CreateSnapshot call (ec2:CreateAction condition).",
        )
        for name in SCHEDULE_WRITERS:
            nag.acknowledge(
                self.functions_roles[name],
                f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, schedules)}]",
                "One-time schedules (the night stop's postponement, the stop moved with keep-awake) have "
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
        self, name: str, code: lambda_.Code, powertools_layer: lambda_.ILayerVersion, config: WorkshopConfig
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
            layers=[powertools_layer],
            timeout=Duration.seconds(TIMEOUTS[name]),
            durable_config=(
                lambda_.DurableConfig(
                    execution_timeout=WORKER_EXECUTION_TIMEOUT, retention_period=WORKER_EXECUTION_RETENTION
                )
                if name == "worker"
                else None
            ),
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
        # A command that outlives its timeout is cancelled (CancelCommand has no resource type in IAM).
        self._allow(function, ["ssm:GetCommandInvocation", "ssm:CancelCommand"], ["*"])

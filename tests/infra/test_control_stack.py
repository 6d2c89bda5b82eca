"""The control stack's template: least privilege, IAM auth, throttling, schedules in local time, the state
rule, the table's recovery setting, and hubagent's documents. Each assertion can fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hubagent import documents
from workshop_hub.adapters import dynamodb
from workshop_hub.ports import ACTIONS

from stacks.constructs.control_api import ROUTES, THROTTLE_BURST, THROTTLE_RATE_PER_SECOND
from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth

# Actions IAM cannot scope to a resource; the only ones allowed on "*".
UNSCOPABLE = {
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeVolumesModifications",
    "ec2:DescribeInstanceTypeOfferings",
    "ssm:GetCommandInvocation",
    "ssm:CancelCommand",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


class Control:
    def __init__(self, synth: Synth) -> None:
        self.synth = synth
        path = synth.outdir / f"{synth.config.hub.name}-control.template.json"
        self.template: dict[str, Any] = json.loads(path.read_text())

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}

    def function(self, name: str) -> tuple[str, dict[str, Any]]:
        wanted = f"{self.synth.config.hub.name}-{name}"
        for logical_id, resource in self.resources("AWS::Lambda::Function").items():
            if resource["Properties"].get("FunctionName") == wanted:
                return logical_id, resource
        raise AssertionError(f"no function {wanted}")

    def statements(self, name: str) -> list[dict[str, Any]]:
        _, function = self.function(name)
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        found = []
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        assert found, f"the {name} function's role has no policy"
        return found

    def allowed(self, name: str) -> dict[str, list[Any]]:
        """action -> resources, for the function's role."""
        result: dict[str, list[Any]] = {}
        for statement in self.statements(name):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                result.setdefault(action, []).extend(resources)
        return result


@pytest.fixture(scope="module")
def control(default_synth: Synth) -> Control:
    return Control(default_synth)


@pytest.fixture(scope="module")
def custom_control(custom_synth: Synth) -> Control:
    return Control(custom_synth)


def test_every_method_requires_iam_auth(control: Control) -> None:
    methods = control.resources("AWS::ApiGateway::Method")
    expected = sum(len(verbs) for _, verbs in ROUTES)
    assert len(methods) == expected
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"GET", "POST", "DELETE"}


def test_stage_is_throttled_and_logged(control: Control) -> None:
    (stage,) = control.resources("AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["MethodSettings"]
    assert settings[0]["ThrottlingRateLimit"] == THROTTLE_RATE_PER_SECOND
    assert settings[0]["ThrottlingBurstLimit"] == THROTTLE_BURST
    assert "DestinationArn" in stage["Properties"]["AccessLogSetting"]
    assert stage["Properties"]["TracingEnabled"] is True


@pytest.mark.parametrize("name", ["api", "worker", "reconcile", "schedule"])
def test_functions_runtime_layer_logs_and_tracing(control: Control, name: str) -> None:
    _, function = control.function(name)
    props = function["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Handler"] == f"handlers.{name}.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    # The layer is the one AWS publishes for the pinned release (tests/infra/test_powertools_and_regions.py).
    (layer,) = props["Layers"]
    (parameter,) = layer.values()
    assert control.template["Parameters"][parameter]["Type"] == "AWS::SSM::Parameter::Value<String>"
    env = props["Environment"]["Variables"]
    for variable in (
        "TABLE_NAME",
        "INSTANCE_ID",
        "VOLUME_ID",
        "DOCUMENT_NAMES",
        "WORKER_FUNCTION_NAME",
        "HUB_URL",
    ):
        assert variable in env
    assert sorted(json.loads(env["DOCUMENT_NAMES"])) == sorted(ACTIONS)


@pytest.mark.parametrize("name", ["api", "worker", "reconcile", "schedule"])
def test_no_wildcard_resource_on_a_mutating_action(control: Control, name: str) -> None:
    for action, resources in control.allowed(name).items():
        if "*" in resources:
            assert action in UNSCOPABLE, f"{name}: {action} is allowed on '*'"
        assert not action.endswith("*"), f"{name}: wildcard action {action}"


def test_only_the_worker_changes_the_instance_and_only_that_instance(control: Control) -> None:
    mutating = {"ec2:StartInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:ModifyVolume"}
    for name in ("api", "reconcile", "schedule"):
        assert not mutating & set(control.allowed(name)), f"{name} may change the instance"
    worker = control.allowed("worker")
    for action in ("ec2:StartInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute"):
        (resource,) = worker[action]
        assert ":instance/" in json.dumps(resource)
    (volume,) = worker["ec2:ModifyVolume"]
    assert ":volume/" in json.dumps(volume)


def test_commands_are_limited_to_the_documents_each_function_needs(control: Control) -> None:
    def documents_of(name: str) -> set[str]:
        return {
            action
            for resource in control.allowed(name).get("ssm:SendCommand", [])
            for action in ACTIONS
            if f"document/workshop-hub-{action}" in json.dumps(resource)
        }

    assert documents_of("api") == {"health", "signup-list"}
    assert documents_of("schedule") == set()
    assert documents_of("worker") == set(ACTIONS)
    assert documents_of("reconcile") == set()


def test_table_is_on_demand_with_point_in_time_recovery_and_the_store_schema(control: Control) -> None:
    (table,) = control.resources("AWS::DynamoDB::GlobalTable").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["Replicas"][0]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}

    class Recorder:
        def create_table(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    recorder = Recorder()
    dynamodb.create_table(recorder, "t")  # type: ignore[arg-type]
    assert props["KeySchema"] == recorder.kwargs["KeySchema"]
    assert props["AttributeDefinitions"] == recorder.kwargs["AttributeDefinitions"]
    assert table["DeletionPolicy"] == "Retain"


def test_schedules_run_in_the_configured_time_zone(control: Control, custom_control: Control) -> None:
    schedules = control.resources("AWS::Scheduler::Schedule")
    by_name = {s["Properties"]["Name"]: s["Properties"] for s in schedules.values()}
    assert by_name["workshop-hub-night-stop"]["ScheduleExpression"] == "cron(0 22 ? * * *)"
    assert {p["ScheduleExpressionTimezone"] for p in by_name.values()} == {"Europe/Berlin"}
    assert json.loads(by_name["workshop-hub-night-stop"]["Target"]["Input"])["action"] == "night-stop"
    custom = custom_control.resources("AWS::Scheduler::Schedule").values()
    assert {s["Properties"]["ScheduleExpressionTimezone"] for s in custom} == {"UTC"}


def test_every_schedule_is_created_after_its_group(control: Control, custom_control: Control) -> None:
    """A schedule names its group by a plain string; without a dependency CloudFormation may create the
    schedule first, and Scheduler refuses a schedule whose group does not exist yet."""
    for variant in (control, custom_control):
        (group_id,) = variant.resources("AWS::Scheduler::ScheduleGroup")
        group = variant.template["Resources"][group_id]["Properties"]["Name"]
        schedules = variant.resources("AWS::Scheduler::Schedule")
        assert schedules
        for logical_id, schedule in schedules.items():
            named = schedule["Properties"]["GroupName"]
            assert named in (group, {"Ref": group_id}), logical_id
            depends = schedule.get("DependsOn", [])
            refers = named == {"Ref": group_id} or group_id in json.dumps(schedule["Properties"])
            assert refers or group_id in (depends if isinstance(depends, list) else [depends]), (
                f"{logical_id} does not wait for {group_id}"
            )


def test_instance_state_rule_reconciles_on_running(control: Control) -> None:
    (rule,) = control.resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.ec2"]
    assert pattern["detail-type"] == ["EC2 Instance State-change Notification"]
    assert pattern["detail"]["state"] == ["running"]
    # A cross-stack reference to the hub stack's instance, not a literal or a wildcard.
    reference = json.dumps(pattern["detail"]["instance-id"])
    assert "workshop-hub-hub" in reference
    assert "HubInstance" in reference
    reconcile_id, _ = control.function("reconcile")
    assert reconcile_id in json.dumps(rule["Properties"]["Targets"])


def test_one_document_per_action_with_patterns_on_every_parameter(control: Control) -> None:
    docs = {
        d["Properties"]["Name"]: d["Properties"] for d in control.resources("AWS::SSM::Document").values()
    }
    assert sorted(docs) == sorted(f"workshop-hub-{action}" for action in ACTIONS)
    for action in ACTIONS:
        content = docs[f"workshop-hub-{action}"]["Content"]
        assert content["schemaVersion"] == "2.2"
        for name, parameter in content.get("parameters", {}).items():
            assert parameter.get("allowedPattern") or parameter.get("allowedValues"), f"{action}.{name}"
        expected = documents.document(action, "URL")
        assert set(content.get("parameters", {})) == set(expected.get("parameters", {}))


def test_lambda_asset_holds_our_code_and_the_deployed_settings(control: Control) -> None:
    _, function = control.function("worker")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = Path(control.synth.outdir) / f"asset.{asset_hash}"
    files = {p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()}
    assert {
        "handlers/worker.py",
        "handlers/api.py",
        "workshop_hub/control_plane.py",
        "workshop_hub/kinds/registry.py",
        "hubagent/rules.py",
    } <= files
    assert "workshop_hub/adapters/local_commands.py" not in files
    # The durable SDK, the boto3 it needs and tzdata, at the pins; Powertools and pydantic from the layer.
    assert {
        "aws_durable_execution_sdk_python/__init__.py",
        "boto3/__init__.py",
        "tzdata/__init__.py",
    } <= files
    assert "aws_durable_execution_sdk_python-3.0.0.dist-info/METADATA" in files
    assert any(name.startswith("tzdata/zoneinfo/Europe/Berlin") for name in files)
    assert not any(name.startswith(("pydantic/", "aws_lambda_powertools/")) for name in files)
    assert not any(name.endswith((".so", ".pyd")) for name in files), "compiled code in the asset"
    settings = json.loads((asset / "workshop.json").read_text())
    assert settings["hub"]["name"] == control.synth.config.hub.name


def test_only_worker_and_api_create_schedules_in_the_hub_group(control: Control) -> None:
    for name in ("worker", "api"):
        allowed = control.allowed(name)
        (schedules,) = allowed["scheduler:CreateSchedule"]
        assert ":schedule/workshop-hub-schedules/*" in json.dumps(schedules)
        (role,) = allowed["iam:PassRole"]
        assert "SchedulerRole" in json.dumps(role)
    for name in ("schedule", "reconcile"):
        assert "scheduler:CreateSchedule" not in control.allowed(name)
        assert "iam:PassRole" not in control.allowed(name)


def test_the_failed_operation_alarm_watches_what_the_worker_emits(control: Control) -> None:
    alarms = control.resources("AWS::CloudWatch::Alarm").values()
    (failed,) = [a["Properties"] for a in alarms if a["Properties"].get("MetricName") == "OperationFailed"]
    assert failed["Namespace"] == "WorkshopHub"
    assert failed["Dimensions"] == [{"Name": "service", "Value": "workshop-hub-worker"}]

    _, worker = control.function("worker")
    assert (
        worker["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "workshop-hub-worker"
    )
    # One alarm per function's errors as well, all notifying the alerts topic.
    assert len(alarms) == 5
    assert all(a["Properties"]["AlarmActions"] for a in alarms)


def test_the_worker_is_durable_and_invoked_through_its_alias(control: Control) -> None:
    from stacks.constructs.control_functions import WORKER_ALIAS

    worker_id, worker = control.function("worker")
    assert worker["Properties"]["DurableConfig"] == {
        "ExecutionTimeout": 6 * 3600,
        "RetentionPeriodInDays": 14,
    }
    for name in ("api", "reconcile", "schedule"):
        assert "DurableConfig" not in control.function(name)[1]["Properties"]
    (alias,) = control.resources("AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == WORKER_ALIAS
    assert alias["Properties"]["FunctionName"] == {"Ref": worker_id}
    version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert control.template["Resources"][version_id]["Type"] == "AWS::Lambda::Version"
    # Every function names the worker by the alias's qualified ARN, never the bare name; the three that
    # start operations may invoke it there (the worker starts none).
    for name in ("api", "worker", "reconcile", "schedule"):
        target = json.dumps(
            control.function(name)[1]["Properties"]["Environment"]["Variables"]["WORKER_FUNCTION_NAME"]
        )
        assert target.endswith(f':function:workshop-hub-worker:{WORKER_ALIAS}"]]}}'), target
    for name in ("api", "reconcile", "schedule"):
        (invoke,) = control.allowed(name)["lambda:InvokeFunction"]
        assert json.dumps(invoke).endswith(f':function:workshop-hub-worker:{WORKER_ALIAS}"]]}}')
    assert "lambda:InvokeFunction" not in control.allowed("worker")
    # The worker, waiting for its turn, looks up the execution ahead of it by name.
    function, executions = control.allowed("worker")["lambda:ListDurableExecutionsByFunction"]
    assert json.dumps(function).endswith(':function:workshop-hub-worker"]]}')
    assert json.dumps(executions).endswith(':function:workshop-hub-worker:*"]]}')


def test_only_the_worker_checkpoints_and_only_its_own_executions(control: Control) -> None:
    worker = control.allowed("worker")
    for action in ("lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"):
        (resource,) = worker[action]
        assert json.dumps(resource).endswith(':function:workshop-hub-worker:*"]]}')
        for name in ("api", "reconcile", "schedule"):
            assert action not in control.allowed(name)


def test_the_roster_batch_and_command_cancel_grants_aws_needs(control: Control) -> None:
    assert "dynamodb:BatchWriteItem" in control.allowed("api")
    assert "dynamodb:BatchWriteItem" in control.allowed("worker")
    for name in ("api", "worker"):
        assert control.allowed(name)["ssm:CancelCommand"] == ["*"]


def test_the_stack_leaves_the_account_wide_api_gateway_role_alone(control: Control) -> None:
    assert control.resources("AWS::ApiGateway::Account") == {}
    assert not any(
        "apigateway.amazonaws.com" in json.dumps(r["Properties"].get("AssumeRolePolicyDocument", {}))
        for r in control.resources("AWS::IAM::Role").values()
    )
    (stage,) = control.resources("AWS::ApiGateway::Stage").values()
    assert "DestinationArn" in stage["Properties"]["AccessLogSetting"]


def test_a_room_of_200_registering_at_once_fits_the_stage_throttle(control: Control) -> None:
    (stage,) = control.resources("AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    # The bucket holds the whole burst; 200 requests in the first second are all accepted.
    assert settings["ThrottlingBurstLimit"] >= 200
    assert settings["ThrottlingRateLimit"] >= 50


def test_past_sessions_get_no_schedules_and_the_cutoff_is_a_day_not_the_clock(tmp_path: Path) -> None:
    import datetime as dt

    from workshop_hub import config as workshop_config

    from stacks.app_builder import build
    from stacks.constructs.hub_schedules import sessions_cutoff

    settings = workshop_config.parse(
        {
            "schedule": {"timezone": "Europe/Berlin"},
            "sessions": [
                {"date": day, "start": "09:00", "end": "17:00", "instance_type": "t3.xlarge"}
                for day in ("2026-12-01", "2026-12-02", "2026-12-03")
            ],
        },
        "test",
    )
    app = build(settings, str(tmp_path), context={"today": "2026-12-02"}, checks=False).app
    template = app.synth().get_stack_by_name("workshop-hub-control").template
    names = sorted(
        r["Properties"]["Name"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    )
    assert names == [
        "workshop-hub-night-stop",
        "workshop-hub-session-20261202-0900-end",
        "workshop-hub-session-20261202-0900-prepare",
        "workshop-hub-session-20261203-0900-end",
        "workshop-hub-session-20261203-0900-prepare",
    ]
    cutoff = sessions_cutoff(settings, "2026-12-02")
    assert cutoff == dt.datetime(2026, 12, 2, tzinfo=cutoff.tzinfo)
    assert str(cutoff.tzinfo) == "Europe/Berlin"
    # Without a day given, two synths of the same day agree.
    assert sessions_cutoff(settings) == sessions_cutoff(settings)


def test_a_customer_managed_ebs_key_is_usable_by_the_worker_only_through_ec2(tmp_path: Path) -> None:
    from workshop_hub import config as workshop_config

    from stacks.app_builder import build

    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    settings = workshop_config.load(Path(__file__).resolve().parents[2] / "workshop.yaml")
    app = build(settings, str(tmp_path), context={"ebs-kms-key-arn": key}, checks=False).app
    template = app.synth().get_stack_by_name("workshop-hub-control").template
    kms = [
        (policy_id, statement)
        for policy_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("kms:") for a in statement["Action"])
    ]
    (policy_id, statement) = kms[0]
    assert len(kms) == 1 and "Worker" in policy_id
    assert statement["Resource"] == key
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}}
    assert "kms:CreateGrant" in statement["Action"]

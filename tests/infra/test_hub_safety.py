"""Memory, disk, cost and backups of the hub in its template: the CloudWatch agent's configuration in the
first-boot script, its one permission, the alarms, the budget and the lifecycle policy with its role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match
from workshop_hub import config as workshop_config

from stacks.constructs.hub_backups import BACKUP_TAG, snapshot_time_utc
from stacks.constructs.hub_budget import budget_amount
from stacks.constructs.hub_monitoring import agent_config
from stacks.hub_stack import TAG_KEY

from .conftest import CFN_LINT_DATED, Synth, synthesize
from .test_user_data import user_data

pytestmark = pytest.mark.synth

SAFETY_SETTINGS: dict[str, Any] = {
    "hub": {"name": "geo-course", "region": "us-east-1", "memory_limit": "1536M"},
    "alerts": {"email": "teacher@example.org"},
    "backups": {"retain": 14},
    "schedule": {"timezone": "America/New_York", "night_stop": {"time": "21:00"}, "stop_deadline": "23:30"},
    "sessions": [{"date": "2026-12-03", "start": "09:00", "end": "17:00", "instance_type": "auto"}],
    "plan": {
        "instance_type": "t3.2xlarge",
        "participants": 30,
        "planned_at": "2026-11-28T21:40Z",
        "monthly_usd": 42.5,
    },
}


@pytest.fixture(scope="module")
def safety(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = workshop_config.parse(json.loads(json.dumps(SAFETY_SETTINGS)), "safety settings")
    return synthesize(config, tmp_path_factory.mktemp("cdk-safety"))


def test_first_boot_installs_and_starts_the_cloudwatch_agent(safety: Synth) -> None:
    script = user_data(safety)
    assert (
        "amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/ubuntu/$arch/latest/amazon-cloudwatch-agent.deb"
        in script
    )
    assert 'amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s' in script
    config_line = next(line for line in script.splitlines() if line.startswith("CW_AGENT_CONFIG="))
    config = json.loads(config_line.removeprefix("CW_AGENT_CONFIG=").strip("'"))
    assert config == json.loads(agent_config("geo-course"))
    assert config["agent"]["run_as_user"] == "root"  # only root reaches the metadata service
    metrics = config["metrics"]
    assert metrics["namespace"] == "WorkshopHub/geo-course"
    assert metrics["aggregation_dimensions"] == [[]]
    assert metrics["metrics_collected"]["mem"]["measurement"] == ["used_percent"]
    assert metrics["metrics_collected"]["disk"]["resources"] == ["/"]
    # installed after TLJH, before the hub is reported ready
    main = script[script.index("main() {") :]
    assert (
        main.index("install_packages") < main.index("install_cloudwatch_agent") < main.index("wait_for_hub")
    )


def test_first_boot_sets_the_memory_limit(safety: Synth, default_synth: Synth) -> None:
    script = user_data(safety)
    assert "MEMORY_LIMIT=1536M\n" in script
    assert '"$TLJH_CONFIG" set limits.memory "$MEMORY_LIMIT"' in script
    assert 'timeout 300 "$TLJH_CONFIG" reload hub' in script
    assert "MEMORY_LIMIT=''\n" in user_data(default_synth)  # none configured: nothing set


def test_the_instance_may_put_metrics_in_its_namespace_only(safety: Synth) -> None:
    template = safety.template
    roles = Capture()
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "cloudwatch:PutMetricData",
                        "Effect": "Allow",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"cloudwatch:namespace": "WorkshopHub/geo-course"}},
                    }
                ]
            },
            "Roles": roles,
        },
    )
    instance_profile = safety.only("AWS::IAM::InstanceProfile")[1]
    assert roles.as_array() == instance_profile["Properties"]["Roles"]
    # no other policy anywhere grants CloudWatch
    for _, policy in safety.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("cloudwatch:") for a in actions):
                assert actions == ["cloudwatch:PutMetricData"] and "Condition" in statement


@pytest.mark.parametrize("metric", ["mem_used_percent", "disk_used_percent"])
def test_alarms_at_85_percent_mail_the_instructor(safety: Synth, metric: str) -> None:
    topic = Capture()
    safety.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "Namespace": "WorkshopHub/geo-course",
                "MetricName": metric,
                "Threshold": 85,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": topic}],
            }
        ),
    )
    subscription = safety.template.find_resources(
        "AWS::SNS::Subscription",
        {"Properties": {"TopicArn": {"Ref": topic.as_string()}, "Protocol": "email"}},
    )
    assert [s["Properties"]["Endpoint"] for s in subscription.values()] == ["teacher@example.org"]


def test_the_budget_mails_at_80_and_100_percent(safety: Synth) -> None:
    notifications = Capture()
    safety.template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": Match.object_like(
                {
                    "BudgetType": "COST",
                    "TimeUnit": "MONTHLY",
                    "BudgetLimit": {"Amount": 42.5, "Unit": "USD"},
                    "CostFilters": {"TagKeyValue": [f"user:{TAG_KEY}$geo-course"]},
                }
            ),
            "NotificationsWithSubscribers": notifications,
        },
    )
    seen = sorted(
        (
            n["Notification"]["Threshold"],
            n["Notification"]["NotificationType"],
            n["Subscribers"][0]["Address"],
        )
        for n in notifications.as_array()
    )
    assert seen == [(80, "ACTUAL", "teacher@example.org"), (100, "ACTUAL", "teacher@example.org")]


def test_no_budget_without_alerts_email(default_synth: Synth) -> None:
    assert default_synth.resources("AWS::Budgets::Budget") == {}


def test_budget_amount_order() -> None:
    base = json.loads(json.dumps(SAFETY_SETTINGS))
    assert budget_amount(workshop_config.parse(base)) == (42.5, "hubctl plan of 2026-11-28T21:40Z")
    base["alerts"]["budget_usd"] = 99
    assert budget_amount(workshop_config.parse(base)) == (99, "alerts.budget_usd")
    # no plan: the schedule priced from the table. t3.medium never runs outside the session (no morning
    # start); the session: 8.5 h of t3.2xlarge + gp3 30 GiB + 730 h of the Elastic IP
    del base["alerts"]["budget_usd"], base["plan"]
    base["sessions"][0]["instance_type"] = "t3.2xlarge"
    usd, source = budget_amount(workshop_config.parse(base)) or (0, "")
    assert usd == pytest.approx(0.3328 * 8.5 + 0.08 * 30 + 0.005 * 730, abs=0.01)
    assert source.startswith("the schedule priced from the table")


def test_nightly_snapshots_of_the_hub_volume_only(safety: Synth) -> None:
    role = Capture()
    safety.template.has_resource_properties(
        "AWS::DLM::LifecyclePolicy",
        {
            "State": "ENABLED",
            "ExecutionRoleArn": {"Fn::GetAtt": [role, "Arn"]},
            "PolicyDetails": Match.object_like(
                {
                    "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
                    "ResourceTypes": ["VOLUME"],
                    "TargetTags": [{"Key": TAG_KEY, "Value": "geo-course"}],
                    "Schedules": [
                        Match.object_like(
                            {
                                # 23:30 + 30 min in New York: 05:00 UTC in winter, 04:00 in summer -> 05:00
                                "CreateRule": {"Interval": 24, "IntervalUnit": "HOURS", "Times": ["05:00"]},
                                "RetainRule": {"Count": 14},
                                "CopyTags": True,
                                "TagsToAdd": [{"Key": BACKUP_TAG, "Value": "geo-course"}],
                            }
                        )
                    ],
                }
            ),
        },
    )
    role_resource = safety.template_json["Resources"][role.as_string()]
    principal = role_resource["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "dlm.amazonaws.com"}
    assert "ManagedPolicyArns" not in role_resource["Properties"]
    policies = [
        p for p in safety.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role.as_string()}]
    ]  # fmt: skip
    assert len(policies) == 1
    grants = {
        (
            tuple(sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])),
            json.dumps(s.get("Condition")),
        )
        for s in policies[0]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert grants == {
        (("ec2:CreateSnapshot",), json.dumps({"StringEquals": {f"aws:ResourceTag/{TAG_KEY}": "geo-course"}})),
        (("ec2:CreateSnapshot", "ec2:CreateTags"), "null"),
        (
            ("ec2:DeleteSnapshot",),
            json.dumps({"StringEquals": {f"aws:ResourceTag/{BACKUP_TAG}": "geo-course"}}),
        ),
        (("ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"), "null"),
    }


def test_backups_can_be_turned_off(tmp_path: Path) -> None:
    config = workshop_config.parse({"backups": {"enabled": False}})
    synth = synthesize(config, tmp_path)
    assert synth.resources("AWS::DLM::LifecyclePolicy") == {}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"timezone": "UTC"}, "02:30"),  # deadline 02:00 + 30 min
        ({"timezone": "Europe/Berlin"}, "01:30"),  # 02:30 local: 01:30 UTC winter, 00:30 summer
        ({"timezone": "America/New_York", "stop_deadline": "23:30"}, "05:00"),
        ({"timezone": "Asia/Tokyo", "stop_deadline": "01:00"}, "16:30"),  # no DST, previous UTC day
        ({"timezone": "Europe/Berlin", "night_stop": None}, "02:30"),  # no night stop: 03:30 local
        # 02:30 local: 15:30 UTC in January (UTC+11), 16:30 in July (UTC+10) -> the later
        ({"timezone": "Australia/Sydney"}, "16:30"),
    ],
)
def test_snapshot_time_is_after_the_deadline_in_every_season(schedule: dict[str, Any], expected: str) -> None:
    parsed = workshop_config.parse({"schedule": schedule}).schedule
    assert snapshot_time_utc(parsed) == expected


@pytest.mark.real_clock(CFN_LINT_DATED)
def test_cfn_lint_accepts_the_budget_alarms_and_lifecycle_policy(safety: Synth) -> None:
    import subprocess
    import sys

    template = str(safety.outdir / f"{safety.stack.artifact_id}.template.json")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", template],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert result.returncode & 3 == 0, result.stdout + result.stderr
    assert safety.resources("AWS::Budgets::Budget") and safety.resources("AWS::DLM::LifecyclePolicy")

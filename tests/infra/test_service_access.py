"""Where an AWS service acts on a resource of ours, that resource's policy lets it, and only for our own
account and resources (tests/support/service_access.py): the alarm topics, the budget, the scheduler's
and Data Lifecycle Manager's roles, the EventBridge rule's and API Gateway's invokes. Read from the
synthesized templates of both stacks; then the checker itself, by tables, on small templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from workshop_hub import config as workshop_config

from tests.support.service_access import ACCOUNT, OTHER_ACCOUNT, allows, check, needed
from tests.support.service_access import SymbolicResolver as Resolver

from .conftest import Synth, synthesize

pytestmark = pytest.mark.synth

REGION = "eu-west-1"

# Every kind of access the stacks make a service need: alarms and their topic, a budget, schedules.
ALERTS_SETTINGS: dict[str, Any] = {
    "hub": {"name": "geo-course", "region": "us-east-2"},
    "alerts": {"email": "teacher@example.org", "budget_usd": 40},
    "schedule": {"timezone": "Europe/Berlin", "morning_start": {"time": "08:00"}},
    "sessions": [{"date": "2099-12-03", "start": "09:00", "end": "17:00", "instance_type": "t3.large"}],
}


@pytest.fixture(scope="module")
def alerts_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = workshop_config.parse(json.loads(json.dumps(ALERTS_SETTINGS)), "alerts settings")
    return synthesize(config, tmp_path_factory.mktemp("cdk-alerts"))


def templates(synth: Synth) -> dict[str, dict[str, Any]]:
    name = synth.config.hub.name
    return {
        f"{name}-hub": synth.template_json,
        f"{name}-control": json.loads((Path(synth.outdir) / f"{name}-control.template.json").read_text()),
    }


def kinds(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == cfn_type}


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth", "alerts_synth"])
def test_every_service_that_must_act_is_let_in_and_only_for_this_account(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    for stack, template in templates(synth).items():
        findings = check(template, synth.config.hub.region)
        assert not findings, f"{stack}:\n" + "\n".join(f"  {f}" for f in findings)


def test_every_alarm_schedule_rule_method_and_lifecycle_policy_is_checked(alerts_synth: Synth) -> None:
    """The checker reads every resource that makes a service act: none is skipped silently."""
    region = alerts_synth.config.hub.region
    for template in templates(alerts_synth).values():
        accesses = needed(template, region)
        alarms = {a.why.split()[1] for a in accesses if a.service == "cloudwatch.amazonaws.com"}
        assert alarms == set(kinds(template, "AWS::CloudWatch::Alarm"))
        schedules = {a.why.split()[1] for a in accesses if a.why.startswith("schedule ")}
        assert schedules == set(kinds(template, "AWS::Scheduler::Schedule"))
        invoked_by_api = {
            a.why.split("(method ")[1][:-1] for a in accesses if a.service.startswith("apigateway")
        }
        assert invoked_by_api == set(kinds(template, "AWS::ApiGateway::Method"))
        rules = {a.why.split()[1] for a in accesses if a.service == "events.amazonaws.com"}
        assert rules == set(kinds(template, "AWS::Events::Rule"))
        dlm = {a.resource for a in accesses if a.service == "dlm.amazonaws.com"}
        policies = kinds(template, "AWS::DLM::LifecyclePolicy").values()
        assert dlm == {p["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0] for p in policies}
    hub, control = templates(alerts_synth).values()
    assert kinds(hub, "AWS::CloudWatch::Alarm") and kinds(control, "AWS::CloudWatch::Alarm")
    assert kinds(control, "AWS::Scheduler::Schedule") and kinds(hub, "AWS::DLM::LifecyclePolicy")


def test_the_alarm_topics_let_cloudwatch_publish_with_both_conditions(alerts_synth: Synth) -> None:
    region = alerts_synth.config.hub.region
    for template in templates(alerts_synth).values():
        for policy in kinds(template, "AWS::SNS::TopicPolicy").values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            (allow,) = [s for s in statements if s["Effect"] == "Allow"]
            assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            assert allow["Action"] == "sns:Publish"
            assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            alarms = Resolver(template, region).arn(allow["Condition"]["ArnLike"]["aws:SourceArn"])
            assert alarms == f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:*"
            # The TLS-only Deny stays.
            assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                       for s in statements)  # fmt: skip


def test_the_budget_mails_directly_so_no_topic_needs_to_let_budgets_in(alerts_synth: Synth) -> None:
    (budget,) = kinds(alerts_synth.template_json, "AWS::Budgets::Budget").values()
    types = {
        s["SubscriptionType"]
        for n in budget["Properties"]["NotificationsWithSubscribers"]
        for s in n["Subscribers"]
    }
    assert types == {"EMAIL"}
    assert not [a for a in needed(alerts_synth.template_json, REGION) if a.service == "budgets.amazonaws.com"]


# --- the checker, on small templates ---------------------------------------------------------------

TOPIC = {"Type": "AWS::SNS::Topic", "Properties": {}}
ALARM = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "Topic"}]}}
SSL_DENY = {
    "Sid": "AllowPublishThroughSSLOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": {"Ref": "Topic"},
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
ALLOW_CLOUDWATCH = {
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": {"Ref": "Topic"},
}
CONDITIONS = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": ["", ["arn:aws:cloudwatch:eu-west-1:", {"Ref": "AWS::AccountId"}, ":alarm:*"]]
        }
    },
}


def topic_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": {"Statement": list(statements)}},
    }


def problems(resources: dict[str, Any]) -> list[str]:
    return [f.problem for f in check({"Resources": resources}, REGION)]


def assert_starts(found: list[str], expected: list[str]) -> None:
    """One problem per expected start, in order."""
    assert len(found) == len(expected), found
    assert all(p.startswith(e) for p, e in zip(found, expected, strict=True)), found


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # What enforce_ssl=True alone makes: the default policy is replaced, CloudWatch may not publish.
        (topic_policy(SSL_DENY), ["not allowed"]),
        (None, ["the topic has no policy"]),
        (
            topic_policy(SSL_DENY, ALLOW_CLOUDWATCH),
            ["also allowed with aws:SourceAccount", "also allowed with aws:SourceArn"],
        ),
        (
            topic_policy(
                SSL_DENY, {**ALLOW_CLOUDWATCH, "Condition": {"StringEquals": CONDITIONS["StringEquals"]}}
            ),
            ["also allowed with aws:SourceArn"],
        ),
        (topic_policy(SSL_DENY, {**ALLOW_CLOUDWATCH, "Condition": CONDITIONS}), []),
        # An Allow for another service does not let CloudWatch in.
        (
            topic_policy({**ALLOW_CLOUDWATCH, "Principal": {"Service": "events.amazonaws.com"}}),
            ["not allowed"],
        ),
        # A Deny that applies to TLS requests too wins over the Allow.
        (
            topic_policy({**SSL_DENY, "Condition": {}}, {**ALLOW_CLOUDWATCH, "Condition": CONDITIONS}),
            ["not allowed"],
        ),
    ],
)
def test_an_alarm_topic_needs_an_allow_for_cloudwatch_with_both_conditions(
    policy: dict[str, Any] | None, expected: list[str]
) -> None:
    resources = {"Topic": TOPIC, "Alarm": ALARM}
    if policy is not None:
        resources["Policy"] = policy
    assert_starts(problems(resources), expected)


def test_a_budget_that_notifies_a_topic_needs_budgets_let_in() -> None:
    budget = {
        "Type": "AWS::Budgets::Budget",
        "Properties": {
            "Budget": {"BudgetName": "b"},
            "NotificationsWithSubscribers": [
                {"Subscribers": [{"SubscriptionType": "SNS", "Address": {"Ref": "Topic"}}]}
            ],
        },
    }
    only_cloudwatch = topic_policy(SSL_DENY, {**ALLOW_CLOUDWATCH, "Condition": CONDITIONS})
    assert problems({"Topic": TOPIC, "Budget": budget, "Policy": only_cloudwatch}) == [
        "not allowed: no statement lets this service do it (or a Deny applies)"
    ]
    budgets = {
        **ALLOW_CLOUDWATCH,
        "Principal": {"Service": "budgets.amazonaws.com"},
        "Condition": {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:aws:budgets::${AWS::AccountId}:*"}},
        },
    }
    assert problems({"Topic": TOPIC, "Budget": budget, "Policy": topic_policy(SSL_DENY, budgets)}) == []


def role(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [statement]}}}


FUNCTION = {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "hub-schedule"}}
INVOKE = {
    "Type": "AWS::IAM::Policy",
    "Properties": {
        "Roles": [{"Ref": "Role"}],
        "PolicyDocument": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": {"Fn::GetAtt": ["Fn", "Arn"]},
                }
            ]
        },
    },
}
SCHEDULE = {
    "Type": "AWS::Scheduler::Schedule",
    "Properties": {
        "GroupName": "hub-schedules",
        "Target": {"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}},
    },
}
ACCOUNT_ONLY = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
GROUP_TOO = {
    **ACCOUNT_ONLY,
    "ArnEquals": {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                ["arn:aws:scheduler:eu-west-1:", {"Ref": "AWS::AccountId"}, ":schedule-group/hub-schedules"],
            ]
        }
    },
}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"Role": role("scheduler.amazonaws.com", GROUP_TOO), "Fn": FUNCTION, "Policy": INVOKE}, []),
        (
            {"Role": role("scheduler.amazonaws.com", ACCOUNT_ONLY), "Fn": FUNCTION, "Policy": INVOKE},
            ["also allowed with aws:SourceArn"],
        ),
        (
            {"Role": role("scheduler.amazonaws.com"), "Fn": FUNCTION, "Policy": INVOKE},
            ["also allowed with aws:SourceAccount", "also allowed with aws:SourceArn"],
        ),
        (
            {"Role": role("lambda.amazonaws.com", GROUP_TOO), "Fn": FUNCTION, "Policy": INVOKE},
            ["not allowed"],
        ),
        ({"Role": role("scheduler.amazonaws.com", GROUP_TOO), "Fn": FUNCTION}, ["the role's own policy"]),
    ],
)
def test_a_schedule_needs_a_role_scheduler_may_assume_for_this_group_and_that_may_invoke(
    resources: dict[str, Any], expected: list[str]
) -> None:
    assert_starts(problems({**resources, "Schedule": SCHEDULE}), expected)


def test_data_lifecycle_manager_needs_its_role_to_trust_it_without_conditions_it_does_not_send() -> None:
    policy = {
        "Type": "AWS::DLM::LifecyclePolicy",
        "Properties": {"ExecutionRoleArn": {"Fn::GetAtt": ["Role", "Arn"]}},
    }
    assert problems({"Role": role("dlm.amazonaws.com"), "Dlm": policy}) == []
    assert problems({"Role": role("ec2.amazonaws.com"), "Dlm": policy})[0].startswith("not allowed")
    # DLM documents no aws:SourceAccount in its requests: a condition on it would lock DLM out.
    assert problems({"Role": role("dlm.amazonaws.com", ACCOUNT_ONLY), "Dlm": policy})[0].startswith(
        "not allowed"
    )


RULE = {
    "Type": "AWS::Events::Rule",
    "Properties": {"Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "t"}]},
}


def permission(principal: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
            "Principal": principal,
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"Permission": permission("events.amazonaws.com", SourceArn={"Fn::GetAtt": ["Rule", "Arn"]})}, []),
        ({}, ["not allowed"]),
        (
            {"Permission": permission("events.amazonaws.com")},
            ["also allowed with aws:SourceArn", "Lambda permission Permission lets events.amazonaws.com"],
        ),
        (
            {
                "Permission": permission(
                    "events.amazonaws.com", SourceArn="arn:aws:events:eu-west-1:1:rule/other"
                )
            },
            ["not allowed"],
        ),
    ],
)
def test_a_rule_that_targets_a_function_needs_a_permission_for_that_rule(
    extra: dict[str, Any], expected: list[str]
) -> None:
    assert_starts(problems({"Fn": FUNCTION, "Rule": RULE, **extra}), expected)


def test_an_api_method_needs_a_permission_for_its_own_path_on_its_own_api() -> None:
    uri = {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": ["Fn", "Arn"]},
                "/invocations",
            ],
        ]
    }
    resources: dict[str, Any] = {
        "Fn": FUNCTION,
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
        },
        "Users": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": "users"},
        },
        "Name": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Ref": "Users"}, "PathPart": "{name}"},
        },
        "Delete": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "HttpMethod": "DELETE",
                "ResourceId": {"Ref": "Name"},
                "RestApiId": {"Ref": "Api"},
                "Integration": {"Type": "AWS_PROXY", "Uri": uri},
            },
        },
    }

    def source(path: str) -> dict[str, Any]:
        return {
            "Fn::Join": [
                "",
                [
                    "arn:aws:execute-api:eu-west-1:",
                    {"Ref": "AWS::AccountId"},
                    ":",
                    {"Ref": "Api"},
                    "/",
                    {"Ref": "Stage"},
                    path,
                ],
            ]
        }

    assert problems(resources) == ["not allowed: no statement lets this service do it (or a Deny applies)"]
    resources["Permission"] = permission("apigateway.amazonaws.com", SourceArn=source("/GET/users/*"))
    assert problems(resources)[0].startswith("not allowed")  # another method
    resources["Permission"] = permission("apigateway.amazonaws.com", SourceArn=source("/DELETE/users/*"))
    assert problems(resources) == []
    resources["Permission"] = permission(
        "apigateway.amazonaws.com", SourceArn={"Fn::Sub": "arn:aws:execute-api:eu-west-1:${AWS::AccountId}:*"}
    )
    assert problems(resources) == [
        f"also allowed with aws:SourceArn = arn:aws:execute-api:eu-west-1:{ACCOUNT}:another-api/<Stage>/DELETE/users/p: "
        "add a condition on aws:SourceArn"
    ]


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        ({"StringEquals": {"aws:SourceAccount": "1"}}, {"aws:SourceAccount": "1"}, True),
        ({"StringEquals": {"aws:sourceaccount": "1"}}, {"aws:SourceAccount": "1"}, True),  # keys: any case
        ({"StringEquals": {"aws:SourceAccount": "1"}}, {"aws:SourceAccount": "2"}, False),
        ({"StringEquals": {"aws:SourceAccount": "1"}}, {}, False),  # a key the request lacks
        ({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {}, True),
        ({"StringNotEquals": {"aws:SourceAccount": "1"}}, {"aws:SourceAccount": "2"}, True),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:x:r:1:alarm:*"}},
            {"aws:SourceArn": "arn:aws:x:r:1:alarm:a"},
            True,
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:x:r:1:alarm:*"}},
            {"aws:SourceArn": "arn:aws:x:r:2:alarm:a"},
            False,
        ),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        (
            {"StringEquals": {"aws:SourceAccount": ["1", "2"]}},
            {"aws:SourceAccount": "2"},
            True,
        ),  # any of a list
    ],
)
def test_conditions_are_evaluated_as_iam_does(
    condition: dict[str, Any], context: dict[str, str], allowed: bool
) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "s.amazonaws.com"},
        "Action": "x:Y",
        "Condition": condition,
    }
    assert allows([statement], "s.amazonaws.com", "x:Y", "arn", context, Resolver({}, REGION)) is allowed


def test_an_operator_it_does_not_know_is_refused_not_guessed() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "s.amazonaws.com"},
        "Action": "x:Y",
        "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}},
    }
    with pytest.raises(ValueError, match="not evaluated here"):
        allows([statement], "s.amazonaws.com", "x:Y", "arn", {}, Resolver({}, REGION))
    assert OTHER_ACCOUNT != ACCOUNT

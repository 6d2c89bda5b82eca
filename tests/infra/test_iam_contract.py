"""The IAM contract check itself: the policy evaluator, the resources a call needs, who made it, and the
verdict on a template -- by tables, without AWS."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.support import iam_calls
from tests.support.iam_calls import Call, requirements
from tests.support.iam_contract import check
from tests.support.iam_policy import Grant, Policy, Resolver, matches, normalize_arn, policy_of, role_policies

REGION = "eu-west-1"


@pytest.mark.parametrize(
    ("glob", "value", "expected"),
    [
        ("*", "anything:at/all", True),
        (
            "arn:aws:dynamodb:eu-west-1:<account>:table/*",
            "arn:aws:dynamodb:eu-west-1:<account>:table/t",
            True,
        ),
        (
            "arn:aws:dynamodb:eu-west-1:<account>:table/*",
            "arn:aws:dynamodb:eu-west-1:<account>:table/t/index/i",
            True,
        ),
        (
            "arn:aws:dynamodb:eu-west-1:<account>:table/t",
            "arn:aws:dynamodb:eu-west-1:<account>:table/t/index/i",
            False,
        ),
        ("arn:aws:lambda:r:a:function:w:*", "arn:aws:lambda:r:a:function:w:live", True),
        ("arn:aws:lambda:r:a:function:w:*", "arn:aws:lambda:r:a:function:w", False),  # unqualified
        ("arn:aws:lambda:r:a:function:w:*", "arn:aws:lambda:r:a:function:w:3/durable-execution/op-1/x", True),
        ("arn:aws:lambda:r:a:function:w:*", "arn:aws:lambda:r:a:function:worker2:live", False),
        ("doc-?", "doc-a", True),
        ("doc-?", "doc-ab", False),
        ("a.b", "axb", False),  # a dot is a dot, not a regex
        ("Table/T", "table/t", False),  # resources are case-sensitive
    ],
)
def test_resource_wildcards_as_iam_reads_them(glob: str, value: str, expected: bool) -> None:
    assert matches(glob, value) is expected


@pytest.mark.parametrize(
    ("statements", "action", "resource", "allowed"),
    [
        ([{"Effect": "Allow", "Action": "ssm:SendCommand", "Resource": "*"}], "ssm:SendCommand", "x", True),
        ([{"Effect": "Allow", "Action": "SSM:sendcommand", "Resource": "*"}], "ssm:SendCommand", "x", True),
        ([{"Effect": "Allow", "Action": "ssm:Send*", "Resource": "*"}], "ssm:SendCommand", "x", True),
        (
            [{"Effect": "Allow", "Action": "ssm:Get?ommandInvocation", "Resource": "*"}],
            "ssm:GetCommandInvocation",
            "x",
            True,
        ),
        (
            [{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "*"}],
            "dynamodb:BatchWriteItem",
            "x",
            False,
        ),
        (
            [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": ["a", "b"]}],
            "ec2:StartInstances",
            "b",
            True,
        ),
        (
            [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "a"}],
            "ec2:StartInstances",
            "b",
            False,
        ),
        (
            [
                {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "*"},
            ],
            "ec2:StopInstances",
            "i",
            False,
        ),
        ([], "ec2:StartInstances", "i", False),
    ],
)
def test_policy_allows_only_what_a_statement_grants(
    statements: list[dict[str, Any]], action: str, resource: str, allowed: bool
) -> None:
    policy = policy_of(statements, Resolver({}, REGION))
    assert bool(policy.allows(action, resource)) is allowed


def test_not_action_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="NotAction"):
        policy_of([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], Resolver({}, REGION))


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "StateTable1": {"Type": "AWS::DynamoDB::GlobalTable", "Properties": {}},
        "Worker1": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"FunctionName": "hub-worker", "Role": {"Fn::GetAtt": ["WorkerRole1", "Arn"]}},
        },
        "WorkerRole1": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Live1": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {"FunctionName": {"Ref": "Worker1"}, "Name": "live"},
        },
        "Policy1": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "WorkerRole1"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "dynamodb:PutItem",
                            "Resource": {"Fn::GetAtt": ["StateTable1", "Arn"]},
                        },
                        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Ref": "Live1"}},
                        {
                            "Effect": "Allow",
                            "Action": "ssm:SendCommand",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        "arn:",
                                        {"Ref": "AWS::Partition"},
                                        ":ssm:eu-west-1:",
                                        {"Ref": "AWS::AccountId"},
                                        ":document/hub-health",
                                    ],
                                ]
                            },
                        },
                        {
                            "Effect": "Allow",
                            "Action": "ec2:StartInstances",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        "arn:aws:ec2:eu-west-1:",
                                        {"Ref": "AWS::AccountId"},
                                        ":instance/",
                                        {"Fn::GetStackOutput": {"OutputName": "Hub"}},
                                    ],
                                ]
                            },
                        },
                    ]
                },
            },
        },
    }
}


def test_intrinsics_resolve_to_the_resource_they_name() -> None:
    (policy,) = role_policies(TEMPLATE, REGION).values()
    by_action = {g.action: g for g in policy.grants}
    assert by_action["dynamodb:PutItem"].resource == "arn:aws:dynamodb:eu-west-1:<account>:table/*"
    assert by_action["dynamodb:PutItem"].label == "<StateTable1.Arn>"
    assert (
        by_action["lambda:InvokeFunction"].resource
        == "arn:aws:lambda:eu-west-1:<account>:function:hub-worker:live"
    )
    assert by_action["ssm:SendCommand"].resource == "arn:aws:ssm:eu-west-1:<account>:document/hub-health"
    assert by_action["ec2:StartInstances"].resource == "arn:aws:ec2:eu-west-1:<account>:instance/*"
    assert by_action["ec2:StartInstances"].label.endswith("<other stack: Hub>")


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "dynamodb",
            "PutItem",
            {"TableName": "t"},
            [("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:<account>:table/t")],
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "t", "IndexName": "by-time"},
            [("dynamodb:Query", "arn:aws:dynamodb:eu-west-1:<account>:table/t/index/by-time")],
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"t": []}},
            [("dynamodb:BatchWriteItem", "arn:aws:dynamodb:eu-west-1:<account>:table/t")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]},
            [
                ("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:<account>:table/t"),
                ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:eu-west-1:<account>:table/t"),
            ],
        ),
        ("ec2", "DescribeInstances", {"InstanceIds": ["i-1"]}, [("ec2:DescribeInstances", "*")]),
        (
            "ec2",
            "StopInstances",
            {"InstanceIds": ["i-1"]},
            [("ec2:StopInstances", "arn:aws:ec2:eu-west-1:<account>:instance/i-1")],
        ),
        (
            "ec2",
            "CreateSnapshot",
            {"VolumeId": "vol-1", "TagSpecifications": [{}]},
            [
                ("ec2:CreateSnapshot", "arn:aws:ec2:eu-west-1:<account>:volume/vol-1"),
                ("ec2:CreateSnapshot", "arn:aws:ec2:eu-west-1::snapshot/*"),
                ("ec2:CreateTags", "arn:aws:ec2:eu-west-1::snapshot/*"),
            ],
        ),
        (
            "ssm",
            "SendCommand",
            {"DocumentName": "hub-health", "InstanceIds": ["i-1"]},
            [
                ("ssm:SendCommand", "arn:aws:ssm:eu-west-1:<account>:document/hub-health"),
                ("ssm:SendCommand", "arn:aws:ec2:eu-west-1:<account>:instance/i-1"),
            ],
        ),
        ("ssm", "CancelCommand", {"CommandId": "c"}, [("ssm:CancelCommand", "*")]),
        (
            "scheduler",
            "CreateSchedule",
            {"Name": "s", "GroupName": "g", "Target": {"RoleArn": "arn:aws:iam::123456789012:role/r"}},
            [
                ("scheduler:CreateSchedule", "arn:aws:scheduler:eu-west-1:<account>:schedule/g/s"),
                ("iam:PassRole", "arn:aws:iam::<account>:role/r"),
            ],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "w:live"},
            [("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:<account>:function:w:live")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:w", "Qualifier": "live"},
            [("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:<account>:function:w:live")],
        ),
        (
            "lambda",
            "GetDurableExecution",
            {
                "DurableExecutionArn": "arn:aws:lambda:eu-west-1:123456789012:function:w:3/durable-execution/op-1/abc"
            },
            [
                (
                    "lambda:GetDurableExecution",
                    "arn:aws:lambda:eu-west-1:<account>:function:w:3/durable-execution/op-1/abc",
                )
            ],
        ),
        (
            "lambda",
            "ListDurableExecutionsByFunction",
            {"FunctionName": "w", "DurableExecutionName": "op-1"},
            [
                ("lambda:ListDurableExecutionsByFunction", "arn:aws:lambda:eu-west-1:<account>:function:w"),
                (
                    "lambda:ListDurableExecutionsByFunction",
                    "arn:aws:lambda:eu-west-1:<account>:function:w:<version>/durable-execution/op-1/<id>",
                ),
            ],
        ),
        (
            "lambda",
            "ListDurableExecutionsByFunction",
            {"FunctionName": "w", "Qualifier": "3", "DurableExecutionName": "op-1"},
            [
                ("lambda:ListDurableExecutionsByFunction", "arn:aws:lambda:eu-west-1:<account>:function:w"),
                ("lambda:ListDurableExecutionsByFunction", "arn:aws:lambda:eu-west-1:<account>:function:w:3"),
                (
                    "lambda:ListDurableExecutionsByFunction",
                    "arn:aws:lambda:eu-west-1:<account>:function:w:3/durable-execution/op-1/<id>",
                ),
            ],
        ),
        ("sts", "GetCallerIdentity", {}, []),
    ],
)
def test_a_call_needs_its_action_on_the_resource_its_parameters_name(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert requirements(service, operation, params, REGION) == expected


def test_normalize_arn_hides_only_the_account() -> None:
    assert normalize_arn("arn:aws:iam::123456789012:role/r") == "arn:aws:iam::<account>:role/r"
    assert normalize_arn("arn:aws:ec2:eu-west-1::snapshot/*") == "arn:aws:ec2:eu-west-1::snapshot/*"


def _in_worker_module() -> str | None:
    return iam_calls.attribute(sys._getframe())


def test_attribution_is_the_innermost_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    assert iam_calls.attribute(sys._getframe()) is None  # a test's own call: set-up, not a function
    # A function defined in a module named like a handler is that handler.
    namespace: dict[str, Any] = {"__name__": "handlers.schedule", "iam_calls": iam_calls, "sys": sys}
    exec(
        "def entry(inner=None):\n    return inner() if inner else iam_calls.attribute(sys._getframe())",
        namespace,
    )
    assert namespace["entry"]() == "schedule"

    # The worker run in process from inside the api (InlineDispatcher.dispatch) is the worker's.
    class InlineDispatcher:
        def dispatch(self) -> str | None:
            return iam_calls.attribute(sys._getframe())

    monkeypatch.setitem(iam_calls.IN_PROCESS_INVOKES, (__name__, "dispatch", "InlineDispatcher"), "worker")
    api: dict[str, Any] = {"__name__": "handlers.api"}
    exec("def handler(run):\n    return run()", api)
    assert api["handler"](InlineDispatcher().dispatch) == "worker"
    assert api["handler"](lambda: iam_calls.attribute(sys._getframe())) == "api"


def _call(function: str, action: str, resource: str) -> Call:
    return Call(function, action, resource, action, "test")


def test_the_verdict_names_missing_and_unused_grants() -> None:
    calls = [
        _call("worker", "dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:<account>:table/anything"),
        _call("worker", "dynamodb:BatchWriteItem", "arn:aws:dynamodb:eu-west-1:<account>:table/anything"),
        _call(
            "worker", "lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:<account>:function:hub-worker:live"
        ),
    ]
    outcome = check(calls, TEMPLATE, REGION, "hub", full=True)
    assert [(c.action, why) for c, why in outcome.missing] == [
        ("dynamodb:BatchWriteItem", "no statement of its role allows it")
    ]
    assert sorted(g.action for _, g in outcome.unused) == ["ec2:StartInstances", "ssm:SendCommand"]
    partial = check(calls, TEMPLATE, REGION, "hub", full=False)
    assert partial.unused == [] and not partial.checked_unused


def test_an_unknown_function_is_reported_not_skipped() -> None:
    outcome = check([_call("api", "dynamodb:PutItem", "x")], TEMPLATE, REGION, "hub", full=False)
    assert [why for _, why in outcome.missing] == ["no such function in the template"]


def test_grant_equality_lets_one_use_cover_a_statement() -> None:
    grant = Grant("ec2:StartInstances", "*", "*")
    assert Policy([grant]).allows("EC2:startinstances", "i") == [grant]


def test_a_thread_started_inside_a_function_is_that_functions() -> None:
    import threading

    recorder = iam_calls.Recorder()
    recorder.install()
    try:
        seen: list[str | None] = []
        worker: dict[str, Any] = {"__name__": "handlers.worker", "threading": threading}
        exec(
            "def handler(target):\n    t = threading.Thread(target=target)\n    t.start()\n    t.join()",
            worker,
        )
        worker["handler"](lambda: seen.append(iam_calls.attribute(sys._getframe())))
        outside = threading.Thread(target=lambda: seen.append(iam_calls.attribute(sys._getframe())))
        outside.start()
        outside.join()
    finally:
        recorder.uninstall()
    assert seen == ["worker", None]

"""The worker's durable executions on AWS (adapters/executions.py), against botocore's Stubber: moto
has no durable-execution APIs, so the request shapes are checked against Lambda's own service model."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from workshop_hub.adapters.executions import LambdaExecutions

ALIAS = "workshop-hub-worker:live"


@pytest.fixture
def lambda_client():
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_start_is_an_async_invoke_of_the_alias_named_by_the_operation(lambda_client):
    client, stub = lambda_client
    stub.add_response(
        "invoke",
        {
            "StatusCode": 202,
            "DurableExecutionArn": "arn:aws:lambda:eu-west-1:1:function:w:3/durable-execution/op-1/x",
        },
        {
            "FunctionName": ALIAS,
            "InvocationType": "Event",
            "DurableExecutionName": "op-1",
            "Payload": json.dumps({"operation_id": "op-1"}).encode(),
        },
    )
    LambdaExecutions(client, ALIAS).start("op-1")


def test_a_start_lambda_already_has_is_not_an_error(lambda_client):
    client, stub = lambda_client
    stub.add_client_error(
        "invoke", service_error_code="DurableExecutionAlreadyStartedException", http_status_code=409
    )
    LambdaExecutions(client, ALIAS).start("op-1")


def test_another_refusal_is_raised(lambda_client):
    client, stub = lambda_client
    stub.add_client_error("invoke", service_error_code="AccessDeniedException", http_status_code=403)
    with pytest.raises(Exception, match="AccessDenied"):
        LambdaExecutions(client, ALIAS).start("op-1")


def test_status_is_looked_up_by_the_execution_name(lambda_client):
    client, stub = lambda_client
    stub.add_response(
        "list_durable_executions_by_function",
        {
            "DurableExecutions": [
                {
                    "DurableExecutionArn": "arn:aws:lambda:eu-west-1:1:function:w:3/durable-execution/op-1/x",
                    "DurableExecutionName": "op-1",
                    "FunctionArn": "arn:aws:lambda:eu-west-1:1:function:w:3",
                    "Status": "TIMED_OUT",
                    "StartTimestamp": "2026-12-03T08:00:00Z",
                }
            ]
        },
        {"FunctionName": "workshop-hub-worker", "DurableExecutionName": "op-1", "Qualifier": "live"},
    )
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": []},
        {"FunctionName": "workshop-hub-worker", "DurableExecutionName": "op-2", "Qualifier": "live"},
    )
    executions = LambdaExecutions(client, ALIAS)
    assert executions.status("op-1") == "TIMED_OUT"
    assert executions.status("op-2") is None


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("workshop-hub-worker:live", ("workshop-hub-worker", "live")),
        ("workshop-hub-worker", ("workshop-hub-worker", None)),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker:live",
            ("arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker", "live"),
        ),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker",
            ("arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker", None),
        ),
    ],
)
def test_split_qualifier(function, expected):
    from workshop_hub.adapters.executions import split_qualifier

    assert split_qualifier(function) == expected

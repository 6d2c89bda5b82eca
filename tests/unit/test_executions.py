"""The worker's durable executions on AWS (adapters/executions.py), against botocore's Stubber: moto
has no durable-execution APIs, so the request shapes are checked against Lambda's own service model."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from workshop_hub.adapters.executions import LambdaExecutions
from workshop_hub.errors import Unavailable

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


def execution(name: str, status: str, version: str = "3") -> dict[str, str]:
    return {
        "DurableExecutionArn": f"arn:aws:lambda:eu-west-1:1:function:w:{version}/durable-execution/{name}/x",
        "DurableExecutionName": name,
        "FunctionArn": f"arn:aws:lambda:eu-west-1:1:function:w:{version}",
        "Status": status,
        "StartTimestamp": "2026-12-03T08:00:00Z",
    }


@pytest.mark.parametrize(
    ("function", "asked"),
    [
        (ALIAS, "workshop-hub-worker"),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker",
        ),
    ],
)
def test_status_is_looked_up_by_name_on_every_version_without_a_qualifier(lambda_client, function, asked):
    # The Stubber compares the request's parameters exactly: a Qualifier (the alias) fails it. An
    # execution's ARN carries the version it resolved to, never the alias; after a deploy the alias
    # names the new version, and a lookup filtered by it would miss an execution still on the old one.
    client, stub = lambda_client
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": [execution("op-1", "RUNNING", version="3")]},
        {"FunctionName": asked, "DurableExecutionName": "op-1"},
    )
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": [execution("op-2", "TIMED_OUT", version="4")]},
        {"FunctionName": asked, "DurableExecutionName": "op-2"},
    )
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": []},
        {"FunctionName": asked, "DurableExecutionName": "op-3"},
    )
    executions = LambdaExecutions(client, function)
    assert executions.status("op-1") == "RUNNING"  # started on version 3 before the alias moved to 4
    assert executions.status("op-2") == "TIMED_OUT"
    assert executions.status("op-3") is None


def test_status_takes_only_the_execution_of_exactly_that_name(lambda_client):
    # Lambda's API reference says the filter keeps names that contain the given one.
    client, stub = lambda_client
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": [execution("op-10", "RUNNING"), execution("op-1", "SUCCEEDED")]},
        {"FunctionName": "workshop-hub-worker", "DurableExecutionName": "op-1"},
    )
    stub.add_response(
        "list_durable_executions_by_function",
        {"DurableExecutions": [execution("op-10", "RUNNING")]},
        {"FunctionName": "workshop-hub-worker", "DurableExecutionName": "op-1"},
    )
    executions = LambdaExecutions(client, ALIAS)
    assert executions.status("op-1") == "SUCCEEDED"
    assert executions.status("op-1") is None


def invoke_params(name: str) -> dict[str, object]:
    return {
        "FunctionName": ALIAS,
        "InvocationType": "Event",
        "DurableExecutionName": name,
        "Payload": json.dumps({"operation_id": name}).encode(),
    }


def test_a_transient_conflict_is_tried_again_and_never_taken_for_started(lambda_client):
    # ResourceConflictException: "the resource already exists, or another operation is in progress".
    # Nothing was started; read as "already started", the operation would wait 10 minutes and be
    # declared dead.
    client, stub = lambda_client
    for _ in range(2):
        stub.add_client_error(
            "invoke",
            service_error_code="ResourceConflictException",
            service_message="Another operation is in progress",
            http_status_code=409,
            expected_params=invoke_params("op-1"),
        )
    stub.add_response("invoke", {"StatusCode": 202}, invoke_params("op-1"))
    slept: list[float] = []
    LambdaExecutions(client, ALIAS, sleep=slept.append).start("op-1")
    assert slept == [0.2, 0.5]  # backoff between the tries


def test_a_conflict_that_lasts_is_raised_after_bounded_tries(lambda_client):
    from workshop_hub.adapters.executions import RETRY_DELAYS_S

    client, stub = lambda_client
    for _ in range(len(RETRY_DELAYS_S) + 1):
        stub.add_client_error("invoke", service_error_code="ResourceConflictException", http_status_code=409)
    slept: list[float] = []
    with pytest.raises(Unavailable, match=r"ResourceConflictException .* to 6 tries in 7\.7 s"):
        LambdaExecutions(client, ALIAS, sleep=slept.append).start("op-1")
    assert slept == list(RETRY_DELAYS_S)
    assert sum(slept) < 10  # inside the api function's 29 s


def test_already_started_after_a_conflict_is_started(lambda_client):
    # The first try reached Lambda after all (a conflict answered late): the second finds the name taken.
    client, stub = lambda_client
    stub.add_client_error("invoke", service_error_code="ResourceConflictException", http_status_code=409)
    stub.add_client_error(
        "invoke", service_error_code="DurableExecutionAlreadyStartedException", http_status_code=409
    )
    slept: list[float] = []
    LambdaExecutions(client, ALIAS, sleep=slept.append).start("op-1")
    assert slept == [0.2]


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


CALLBACK = "Y2FsbGJhY2stb2YtYS13YWl0ZXI="


def test_notify_completes_the_waiters_callback(lambda_client):
    client, stub = lambda_client
    stub.add_response(
        "send_durable_execution_callback_success", {}, {"CallbackId": CALLBACK, "Result": b'"your turn"'}
    )
    assert LambdaExecutions(client, ALIAS).notify(CALLBACK) is True


@pytest.mark.parametrize(
    "code", ["CallbackTimeoutException", "ResourceNotFoundException", "InvalidParameterValueException"]
)
def test_a_closed_callback_is_no_hand_off(lambda_client, code):
    client, stub = lambda_client
    stub.add_client_error(
        "send_durable_execution_callback_success", service_error_code=code, http_status_code=400
    )
    assert LambdaExecutions(client, ALIAS).notify(CALLBACK) is False


def test_throttling_on_notify_is_raised_for_the_step_to_retry(lambda_client):
    client, stub = lambda_client
    stub.add_client_error(
        "send_durable_execution_callback_success",
        service_error_code="TooManyRequestsException",
        http_status_code=429,
    )
    with pytest.raises(ClientError):
        LambdaExecutions(client, ALIAS).notify(CALLBACK)

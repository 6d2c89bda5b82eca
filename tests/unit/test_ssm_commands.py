"""The SSM adapter: offline, timeout, failure with stdout/stderr, and the last JSON line."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from workshop_hub.adapters.ssm_commands import SsmCommands
from workshop_hub.ports import AgentFailed, AgentOffline, AgentTimeout, last_json_line

INSTANCE = "i-0123456789abcdef0"
CID = "0b9f6a2e-1c3d-4e5f-8a7b-9c0d1e2f3a4b"


def instances(state: str) -> dict[str, Any]:
    return {"Reservations": [{"Instances": [{"InstanceId": INSTANCE, "State": {"Name": state, "Code": 16}}]}]}


def invocation(status: str, stdout: str = "", stderr: str = "", details: str | None = None) -> dict[str, Any]:
    return {
        "CommandId": CID,
        "InstanceId": INSTANCE,
        "Status": status,
        "StatusDetails": details or status,
        "StandardOutputContent": stdout,
        "StandardErrorContent": stderr,
    }


RUN_STEP = {"CommandId": CID, "InstanceId": INSTANCE, "PluginName": "RunAgent"}
DOWNLOAD_STEP = {"CommandId": CID, "InstanceId": INSTANCE, "PluginName": "DownloadAgent"}


def adapter(state: str = "running") -> tuple[SsmCommands, Stubber, Stubber]:
    ssm = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ssm_stub, ec2_stub = Stubber(ssm), Stubber(ec2)
    ec2_stub.add_response("describe_instances", instances(state))
    ticks = itertools.count(0, 5)
    commands = SsmCommands(
        ssm,
        ec2,
        INSTANCE,
        {"health": "doc-health", "users-add": "doc-users"},
        clock=lambda: float(next(ticks)),
        sleep=lambda _: None,
    )
    ssm_stub.activate()
    ec2_stub.activate()
    return commands, ssm_stub, ec2_stub


def sent(ssm_stub: Stubber) -> None:
    ssm_stub.add_response("send_command", {"Command": {"CommandId": CID}})


def test_the_last_json_line_is_the_result() -> None:
    assert last_json_line('noise\n{"ok": true, "action": "health"}\n') == {"ok": True, "action": "health"}
    assert last_json_line("no json") is None


def test_success_after_polling() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_client_error("get_command_invocation", "InvocationDoesNotExist")
    ssm_stub.add_response("get_command_invocation", invocation("InProgress"))
    ssm_stub.add_response(
        "get_command_invocation", invocation("Success", 'log line\n{"ok": true, "changed": false}')
    )
    assert commands.run("health", {}) == {"ok": True, "changed": False}
    ssm_stub.assert_no_pending_responses()


def test_a_stopped_instance_is_offline() -> None:
    commands, _, _ = adapter("stopped")
    with pytest.raises(AgentOffline, match="is stopped"):
        commands.run("health", {})


def test_an_unregistered_agent_is_offline() -> None:
    commands, ssm_stub, _ = adapter()
    ssm_stub.add_client_error(
        "send_command", "InvalidInstanceId", "Instances not in a valid state for account"
    )
    with pytest.raises(AgentOffline, match="not online"):
        commands.run("health", {})


def test_a_command_past_its_time_is_cancelled() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    for _ in range(2):
        ssm_stub.add_response("get_command_invocation", invocation("InProgress"))
    ssm_stub.add_response("cancel_command", {})
    with pytest.raises(AgentTimeout, match="within 10 s"):
        commands.run("health", {}, timeout_s=10)


def test_a_failed_command_carries_stdout_and_stderr() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    out = '{"ok": false, "action": "users-add", "error": "hub API answered 403"}'
    ssm_stub.add_response("get_command_invocation", invocation("Failed", out, "Traceback ..."))
    with pytest.raises(AgentFailed) as raised:
        commands.run("users-add", {"Usernames": "a", "Admin": "false"})
    assert "hub API answered 403" in str(raised.value) and "Traceback" in str(raised.value)
    assert raised.value.result["ok"] is False


def test_ok_false_is_a_failure_even_with_exit_zero() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_response("get_command_invocation", invocation("Success", '{"ok": false, "error": "no"}'))
    with pytest.raises(AgentFailed, match="no"):
        commands.run("health", {})


@pytest.mark.parametrize(
    ("status", "details"),
    [
        ("Failed", "Undeliverable"),
        ("Failed", "Terminated"),
        ("TimedOut", "DeliveryTimedOut"),
        ("TimedOut", "Delivery Timed Out"),  # as AWS's own texts spell it
    ],
)
def test_an_agent_that_never_got_the_command_is_offline(status: str, details: str) -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_response("get_command_invocation", invocation(status, details=details), RUN_STEP)
    with pytest.raises(AgentOffline, match="agent is offline"):
        commands.run("health", {})
    ssm_stub.assert_no_pending_responses()


def test_offline_is_seen_while_the_status_still_looks_pending() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_response("get_command_invocation", invocation("Pending", details="Undeliverable"), RUN_STEP)
    with pytest.raises(AgentOffline):
        commands.run("health", {})


@pytest.mark.parametrize(
    ("status", "details"),
    [("TimedOut", "ExecutionTimedOut"), ("Cancelled", "Cancelled"), ("Cancelling", "Cancelling")],
)
def test_a_command_that_ran_out_of_time_is_a_timeout(status: str, details: str) -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_response("get_command_invocation", invocation(status, details=details), RUN_STEP)
    with pytest.raises(AgentTimeout, match=CID):
        commands.run("health", {})


def test_every_poll_names_the_run_step_and_a_timeout_cancels_the_command() -> None:
    commands, ssm_stub, _ = adapter()
    ssm_stub.add_response(
        "send_command",
        {"Command": {"CommandId": CID}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": "doc-health",
            "Parameters": {},
            "Comment": "workshop-hub health",
            "TimeoutSeconds": 60,  # the health document's timeoutSeconds
        },
    )
    ssm_stub.add_client_error("get_command_invocation", "InvocationDoesNotExist", expected_params=RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("InProgress"), RUN_STEP)
    ssm_stub.add_response("cancel_command", {}, {"CommandId": CID, "InstanceIds": [INSTANCE]})
    with pytest.raises(AgentTimeout, match="cancelled"):
        commands.run("health", {}, timeout_s=10)
    ssm_stub.assert_no_pending_responses()


def test_a_cancel_that_fails_still_reports_the_timeout() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    for _ in range(2):
        ssm_stub.add_response("get_command_invocation", invocation("InProgress"), RUN_STEP)
    ssm_stub.add_client_error("cancel_command", "InvalidCommandId")
    with pytest.raises(AgentTimeout, match="could not be cancelled: InvalidCommandId"):
        commands.run("health", {}, timeout_s=10)


def test_a_failed_download_is_named() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    ssm_stub.add_response("get_command_invocation", invocation("Failed"), RUN_STEP)
    ssm_stub.add_response(
        "get_command_invocation", invocation("Failed", stderr="AccessDenied: s3 GetObject"), DOWNLOAD_STEP
    )
    with pytest.raises(AgentFailed, match="downloading the agent failed: AccessDenied: s3 GetObject"):
        commands.run("health", {})
    ssm_stub.assert_no_pending_responses()


def test_a_command_never_delivered_by_its_deadline_is_offline_and_cancelled() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    for _ in range(2):
        ssm_stub.add_response("get_command_invocation", invocation("Pending"), RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("Pending"), DOWNLOAD_STEP)
    ssm_stub.add_response("cancel_command", {}, {"CommandId": CID, "InstanceIds": [INSTANCE]})
    with pytest.raises(AgentOffline, match="was not delivered within 10 s"):
        commands.run("health", {}, timeout_s=10)
    ssm_stub.assert_no_pending_responses()


def test_a_slow_download_is_a_timeout_not_offline() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    for _ in range(2):
        ssm_stub.add_response("get_command_invocation", invocation("Pending"), RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("InProgress"), DOWNLOAD_STEP)
    ssm_stub.add_response("cancel_command", {})
    with pytest.raises(AgentTimeout, match="did not finish within 10 s"):
        commands.run("health", {}, timeout_s=10)


# --- the two halves the worker uses: send (one step), then result between durable waits -----------


def test_send_returns_the_command_id_and_result_is_none_while_it_runs() -> None:
    commands, ssm_stub, _ = adapter()
    sent(ssm_stub)
    assert commands.send("users-add", {"Usernames": "ada", "Admin": "false"}) == CID
    ssm_stub.add_client_error("get_command_invocation", "InvocationDoesNotExist", expected_params=RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("InProgress"), RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("Delayed"), RUN_STEP)
    ssm_stub.add_response("get_command_invocation", invocation("Success", '{"ok": true, "created": ["ada"]}'))
    answers = [commands.result(CID, "users-add") for _ in range(4)]
    assert answers == [None, None, None, {"ok": True, "created": ["ada"]}]
    ssm_stub.assert_no_pending_responses()


def test_a_throttled_look_is_no_answer_yet() -> None:
    commands, ssm_stub, _ = adapter()
    ssm_stub.add_client_error("get_command_invocation", "ThrottlingException", expected_params=RUN_STEP)
    assert commands.result(CID, "health") is None


@pytest.mark.parametrize("action", ["packages-install", "data-sync", "users-add", "disk-grow", "health"])
def test_the_time_limit_sent_is_the_actions_as_in_its_document(action: str) -> None:
    """SendCommand's TimeoutSeconds and the document's timeoutSeconds agree: SSM ends the command past it
    (packages: 60 minutes), whatever one Lambda invocation's 15."""
    from hubagent import documents

    run_step = next(
        s for s in documents.document(action, "https://x/a.zip")["mainSteps"] if s["name"] == "RunAgent"
    )
    limit = run_step["inputs"]["timeoutSeconds"]
    commands, ssm_stub, _ = adapter()
    commands.document_names = {action: f"doc-{action}"}
    ssm_stub.add_response(
        "send_command",
        {"Command": {"CommandId": CID}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": f"doc-{action}",
            "Parameters": {},
            "Comment": f"workshop-hub {action}",
            "TimeoutSeconds": limit,
        },
    )
    commands.send(action, {})
    if action == "packages-install":
        assert limit == 3600  # an hour: far past one invocation's 15 minutes


def test_giving_up_in_another_invocation_reads_the_status_then_cancels() -> None:
    commands, ssm_stub, _ = adapter()
    ssm_stub.add_response("get_command_invocation", invocation("InProgress"), RUN_STEP)
    ssm_stub.add_response("cancel_command", {}, {"CommandId": CID, "InstanceIds": [INSTANCE]})
    error = commands.give_up(CID, "packages-install", 7260)
    assert isinstance(error, AgentTimeout)
    assert "packages-install did not finish within 7260 s" in str(error) and "cancelled" in str(error)
    ssm_stub.assert_no_pending_responses()

"""InstanceCommands over SSM Run Command: one document per hubagent action, one JSON result line.
``send`` is SendCommand (with the action's time limit as TimeoutSeconds, as the document's
timeoutSeconds); ``result`` one GetCommandInvocation; the worker asks between durable waits.

Read as SSM answers: ``Status`` is one of Pending, InProgress, Delayed, Success, Cancelled, TimedOut,
Failed, Cancelling; that the agent could not be reached (Undeliverable, Terminated, DeliveryTimedOut)
shows only in ``StatusDetails`` and becomes AgentOffline. Each poll names the document's run step
(``PluginName``: a document with two steps needs it). A command still running when the caller gives up
(``give_up``) is cancelled (ssm:CancelCommand) and reported as AgentTimeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from hubagent.documents import DOWNLOAD_STEP, RUN_STEP

from workshop_hub.ports import (
    AgentError,
    AgentFailed,
    AgentOffline,
    AgentTimeout,
    command_timeout,
    last_json_line,
    run_now,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

PENDING = ("Pending", "InProgress", "Delayed")
# StatusDetails (spelt with or without spaces in AWS's texts) that mean the agent never got the command.
OFFLINE = ("Undeliverable", "Terminated", "DeliveryTimedOut")
TIMED_OUT = ("TimedOut", "ExecutionTimedOut", "Cancelled", "Cancelling")
OFFLINE_CODES = ("InvalidInstanceId", "InvalidInstanceInformationFilterValue")
THROTTLED = ("ThrottlingException", "TooManyRequestsException")


class SsmCommands:
    def __init__(
        self,
        ssm: SSMClient,
        ec2: EC2Client,
        instance_id: str,
        document_names: Mapping[str, str],
        *,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ssm = ssm
        self.ec2 = ec2
        self.instance_id = instance_id
        self.document_names = document_names
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self._seen: dict[str, str] = {}  # command id -> the status its last result() read

    def _instance_state(self) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def send(self, action: str, params: Mapping[str, str]) -> str:
        document = self.document_names.get(action)
        if document is None:
            raise AgentFailed(f"no SSM document configured for hubagent action '{action}'")
        state = self._instance_state()
        if state != "running":
            raise AgentOffline(f"the hub instance is {state}, so its agent cannot take commands")
        try:
            sent = self.ssm.send_command(
                InstanceIds=[self.instance_id],
                DocumentName=document,
                Parameters={name: [value] for name, value in params.items()},
                Comment=f"workshop-hub {action}",
                # The action's own limit, as the document's timeoutSeconds: SSM gives up delivering
                # (DeliveryTimedOut) past it, and ends a run that outlasts it (TimedOut).
                TimeoutSeconds=max(30, command_timeout(action)),
            )
        except ClientError as err:
            if err.response["Error"]["Code"] in OFFLINE_CODES:
                raise AgentOffline(f"the SSM agent on {self.instance_id} is not online yet: {err}") from None
            raise
        return str(sent["Command"]["CommandId"])

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        try:
            invocation = self._invocation(command_id, RUN_STEP)
        except ClientError as err:
            if err.response["Error"]["Code"] in THROTTLED:
                return None  # asked too often: the next durable wait asks again
            raise
        status = invocation["Status"] if invocation else "Pending"
        self._seen[command_id] = status
        details = _squeezed(invocation.get("StatusDetails", "")) if invocation else ""
        if details in OFFLINE:
            raise AgentOffline(
                f"{action}: the SSM agent on {self.instance_id} did not take command {command_id} "
                f"({invocation.get('StatusDetails') if invocation else details}): the instance's agent is offline"
            )
        if status in PENDING:
            return None
        assert invocation is not None
        stdout = invocation.get("StandardOutputContent", "")
        stderr = invocation.get("StandardErrorContent", "")
        result = last_json_line(stdout)
        if status in TIMED_OUT or details in TIMED_OUT:
            raise AgentTimeout(
                f"{action}: command {command_id} {status.lower()} ({details or status}) on the instance "
                f"(its limit: {command_timeout(action)} s)",
                result,
            )
        if status != "Success":
            message = (result or {}).get(
                "error"
            ) or f"{action} failed ({status}{self._download_problem(command_id)})"
            raise AgentFailed(f"{message}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}", result)
        if result is None:
            raise AgentFailed(
                f"{action} printed no JSON result (SSM keeps the first 24000 characters of output)\n"
                f"stdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
            )
        if not result.get("ok", False):
            raise AgentFailed(str(result.get("error") or f"{action} reported ok: false"), result)
        return result

    def give_up(self, command_id: str, action: str, waited_s: int) -> AgentError:
        status = self._seen.pop(command_id, None)
        if status is None:  # asked in another invocation: read it again
            invocation = self._invocation(command_id, RUN_STEP)
            status = invocation["Status"] if invocation else "Pending"
        delivered = self._delivered(command_id, status)
        cancelled = self._cancel(command_id)
        if not delivered:
            return AgentOffline(
                f"{action}: command {command_id} was not delivered within {waited_s} s ({cancelled}): "
                f"the SSM agent on {self.instance_id} is offline"
            )
        return AgentTimeout(f"{action} did not finish within {waited_s} s (command {command_id} {cancelled})")

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        """Send and wait here (run_now), with this adapter's clock and poll interval."""
        return run_now(
            self, action, params, timeout_s, poll_s=self.poll_s, clock=self.clock, sleep=self.sleep
        )

    def _invocation(self, command_id: str, step: str) -> dict[str, Any] | None:
        try:
            answer = self.ssm.get_command_invocation(
                CommandId=command_id, InstanceId=self.instance_id, PluginName=step
            )
        except ClientError as err:
            # Just after send_command the invocation may not exist yet.
            if err.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            return None
        return dict(answer)

    def _delivered(self, command_id: str, run_status: str) -> bool:
        """Whether the instance's agent took the command: its run step started, or its download did."""
        if run_status not in ("Pending", "Delayed"):
            return True
        try:
            download = self._invocation(command_id, DOWNLOAD_STEP)
        except ClientError:
            return True  # cannot tell: say timeout, the weaker claim
        return download is not None and download.get("Status") not in ("Pending", "Delayed")

    def _cancel(self, command_id: str) -> str:
        try:
            self.ssm.cancel_command(CommandId=command_id, InstanceIds=[self.instance_id])
        except ClientError as err:  # e.g. it ended meanwhile: the timeout is still the answer
            return f"could not be cancelled: {err.response['Error'].get('Code', err)}"
        return "cancelled"

    def _download_problem(self, command_id: str) -> str:
        """When the run step failed, whether the agent's download before it failed (and why)."""
        try:
            download = self._invocation(command_id, DOWNLOAD_STEP)
        except ClientError:
            return ""
        if not download or download.get("Status") == "Success":
            return ""
        text = (download.get("StandardErrorContent") or download.get("StandardOutputContent") or "").strip()
        return f"; downloading the agent {download.get('Status', '').lower()}: {text[-500:]}"


def _squeezed(text: str) -> str:
    return text.replace(" ", "")

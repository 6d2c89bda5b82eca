"""InstanceCommands over SSM Run Command: one document per hubagent action, one JSON result line."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from workshop_hub.ports import AgentFailed, AgentOffline, AgentTimeout, last_json_line

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

PENDING = ("Pending", "InProgress", "Delayed")
OFFLINE = ("Undeliverable", "Terminated", "DeliveryTimedOut")
OFFLINE_CODES = ("InvalidInstanceId", "InvalidInstanceInformationFilterValue")


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

    def _instance_state(self) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
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
            )
        except ClientError as err:
            if err.response["Error"]["Code"] in OFFLINE_CODES:
                raise AgentOffline(f"the SSM agent on {self.instance_id} is not online yet: {err}") from None
            raise
        command_id = sent["Command"]["CommandId"]
        deadline = self.clock() + timeout_s
        while True:
            try:
                invocation = self.ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=self.instance_id
                )
            except ClientError as err:
                # Just after send_command the invocation may not exist yet.
                if err.response["Error"]["Code"] != "InvocationDoesNotExist":
                    raise
                invocation = None
            status = invocation["Status"] if invocation else "Pending"
            if status not in PENDING:
                break
            if self.clock() >= deadline:
                self.ssm.cancel_command(CommandId=command_id, InstanceIds=[self.instance_id])
                raise AgentTimeout(
                    f"{action} did not finish within {timeout_s} s (command {command_id} cancelled)"
                )
            self.sleep(self.poll_s)
        assert invocation is not None
        stdout = invocation.get("StandardOutputContent", "")
        stderr = invocation.get("StandardErrorContent", "")
        result = last_json_line(stdout)
        if status in OFFLINE:
            raise AgentOffline(f"{action}: command {status.lower()} ({invocation.get('StatusDetails', '')})")
        if status in ("TimedOut", "Cancelled", "Cancelling"):
            raise AgentTimeout(f"{action}: command {status.lower()} on the instance", result)
        if status != "Success":
            message = (result or {}).get("error") or f"{action} failed ({status})"
            raise AgentFailed(f"{message}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}", result)
        if result is None:
            raise AgentFailed(
                f"{action} printed no JSON result (SSM keeps the first 24000 characters of output)\n"
                f"stdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
            )
        if not result.get("ok", False):
            raise AgentFailed(str(result.get("error") or f"{action} reported ok: false"), result)
        return result

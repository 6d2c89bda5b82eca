"""The worker's durable executions on AWS: an async invoke of the worker's alias, named by the
operation id, so Lambda starts it at most once; and its status, looked up by that name.

Two answers of Lambda's that look alike mean different things (botocore's Lambda model):
``DurableExecutionAlreadyStartedException`` -- an execution of that name exists, the start happened
before -- and ``ResourceConflictException`` -- "another operation is in progress" on the function, a
transient refusal: the execution was NOT started, so the start is tried again, a bounded number of times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from workshop_hub.errors import Unavailable

# What Lambda answers to a callback that cannot be completed any more: closed (completed, or timed out),
# or unknown. The waiter looks again by itself at its fallback time: nothing is lost.
CALLBACK_CLOSED = ("CallbackTimeoutException", "ResourceNotFoundException", "InvalidParameterValueException")
# What Lambda answers when an execution of that name exists already (the start happened before).
ALREADY_STARTED = "DurableExecutionAlreadyStartedException"
# "Another operation is in progress" (e.g. a deploy updating the alias): nothing was started; try again.
TRANSIENT = "ResourceConflictException"
# Seconds between the tries after a transient conflict: at most 7.7 s in all, well inside the api
# function's 29 s, the shortest timeout of the functions that start operations.
RETRY_DELAYS_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)


class LambdaClient(Protocol):
    def invoke(self, **kwargs: Any) -> Any: ...
    def list_durable_executions_by_function(self, **kwargs: Any) -> Any: ...
    def send_durable_execution_callback_success(self, **kwargs: Any) -> Any: ...


class LambdaExecutions:
    def __init__(
        self,
        client: LambdaClient,
        function_name: str,
        *,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.function_name = function_name  # qualified: name:alias (a durable function needs one)
        self.retry_delays_s = tuple(retry_delays_s)
        self.sleep = sleep

    def start(self, operation_id: str) -> None:
        """Start the execution named ``operation_id``, once. Raises Unavailable (with Lambda's last
        ``ResourceConflictException``) when every try met one: the execution did not start, and the
        caller records that."""
        tries = len(self.retry_delays_s) + 1
        for delay in (*self.retry_delays_s, None):
            try:
                self.client.invoke(
                    FunctionName=self.function_name,
                    InvocationType="Event",
                    DurableExecutionName=operation_id,
                    Payload=json.dumps({"operation_id": operation_id}).encode(),
                )
                return
            except ClientError as err:
                code = err.response["Error"]["Code"]
                if code == ALREADY_STARTED:
                    return
                if code != TRANSIENT:
                    raise
                if delay is None:
                    message = err.response["Error"].get("Message", "")
                    raise Unavailable(
                        f"Lambda answered {TRANSIENT} ({message}) to {tries} tries in "
                        f"{sum(self.retry_delays_s):.1f} s"
                    ) from None
            self.sleep(delay)

    def status(self, operation_id: str) -> str | None:
        """The status of the execution named ``operation_id``, on whichever version it runs.

        No ``Qualifier``: an execution's ARN carries the version it resolved to, never the alias, and a
        deploy moves the alias to a new version while older executions run on; botocore's model says
        that without a qualifier Lambda lists the executions of every version."""
        name, _ = split_qualifier(self.function_name)
        answer = self.client.list_durable_executions_by_function(
            FunctionName=name, DurableExecutionName=operation_id
        )
        # Lambda's API reference says the name filter keeps names that CONTAIN it: keep only this one.
        found = [
            e for e in answer.get("DurableExecutions") or [] if e.get("DurableExecutionName") == operation_id
        ]
        return str(found[0]["Status"]) if found else None

    def notify(self, callback_id: str) -> bool:
        """Complete the callback a waiting execution of the worker suspended on (the hub's hand-off)."""
        try:
            self.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"your turn"')
        except ClientError as err:
            if err.response["Error"]["Code"] in CALLBACK_CLOSED:
                return False
            raise
        return True


def split_qualifier(function: str) -> tuple[str, str | None]:
    """``name:alias`` or ``arn:aws:lambda:REGION:ACCOUNT:function:name:alias`` -> (function, alias)."""
    parts = function.split(":")
    if function.startswith("arn:"):
        return (":".join(parts[:7]), parts[7]) if len(parts) == 8 else (function, None)
    return (parts[0], parts[1]) if len(parts) == 2 else (function, None)

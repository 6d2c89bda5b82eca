"""The worker's durable executions on AWS: an async invoke of the worker's alias, named by the
operation id, so Lambda starts it at most once; and its status, looked up by that name."""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import ClientError

# What Lambda answers when an execution of that name exists already (the start happened before).
ALREADY_STARTED = ("DurableExecutionAlreadyStartedException", "ResourceConflictException")


class LambdaClient(Protocol):
    def invoke(self, **kwargs: Any) -> Any: ...
    def list_durable_executions_by_function(self, **kwargs: Any) -> Any: ...


class LambdaExecutions:
    def __init__(self, client: LambdaClient, function_name: str) -> None:
        self.client = client
        self.function_name = function_name  # qualified: name:alias (a durable function needs one)

    def start(self, operation_id: str) -> None:
        try:
            self.client.invoke(
                FunctionName=self.function_name,
                InvocationType="Event",
                DurableExecutionName=operation_id,
                Payload=json.dumps({"operation_id": operation_id}).encode(),
            )
        except ClientError as err:
            if err.response["Error"]["Code"] not in ALREADY_STARTED:
                raise

    def status(self, operation_id: str) -> str | None:
        name, qualifier = split_qualifier(self.function_name)
        kwargs: dict[str, Any] = {"FunctionName": name, "DurableExecutionName": operation_id}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        found = self.client.list_durable_executions_by_function(**kwargs).get("DurableExecutions") or []
        return str(found[0]["Status"]) if found else None


def split_qualifier(function: str) -> tuple[str, str | None]:
    """``name:alias`` or ``arn:aws:lambda:REGION:ACCOUNT:function:name:alias`` -> (function, alias)."""
    parts = function.split(":")
    if function.startswith("arn:"):
        return (":".join(parts[:7]), parts[7]) if len(parts) == 8 else (function, None)
    return (parts[0], parts[1]) if len(parts) == 2 else (function, None)

"""Lambda's durable-execution calls as botocore's Lambda model (1.44.8) and its docs describe them, over
the durable SDK's local runner: what moto does not have.

- ``invoke`` of a qualified name starts one execution per ``DurableExecutionName`` on the version the
  qualifier resolves to (an alias resolves to the version it points at now); the same name and payload
  again returns the existing execution, another payload raises
  ``DurableExecutionAlreadyStartedException``; ``conflicts`` makes the next N calls raise
  ``ResourceConflictException`` ("another operation is in progress") and start nothing.
- ``list_durable_executions_by_function`` without ``Qualifier`` lists the executions of every version;
  with one (an alias or a number) only those of that version. The name filter keeps names that contain
  the given one (the API reference's wording).
- ``send_durable_execution_callback_success`` completes a callback of an execution the local runner
  runs; a closed one raises ``CallbackTimeoutException``.
- ``deploy()`` publishes a new version and moves the alias to it; executions keep their version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from workshop_hub.adapters.executions import split_qualifier


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class Execution:
    version: int
    payload: bytes
    status: str | None = None  # None: whatever the local runner says (it runs it)


@dataclass
class VersionedLambda:
    local: Any  # LocalExecutions: runs what is invoked
    alias: str = "live"
    version: int = 1
    conflicts: int = 0
    executions: dict[str, Execution] = field(default_factory=dict)
    invokes: list[dict[str, Any]] = field(default_factory=list)
    listed: list[dict[str, Any]] = field(default_factory=list)

    def deploy(self) -> None:
        self.version += 1

    def hold(self, name: str, *, version: int, status: str = "RUNNING") -> None:
        """An execution that runs elsewhere (started before this test, on ``version``)."""
        self.executions[name] = Execution(version=version, payload=b"", status=status)

    def _version(self, qualifier: str) -> int:
        if qualifier == self.alias:
            return self.version
        if qualifier.isdigit():
            return int(qualifier)
        raise _error("ResourceNotFoundException", f"no alias or version {qualifier}", "Invoke")

    def invoke(self, **params: Any) -> dict[str, Any]:
        self.invokes.append(params)
        if self.conflicts:
            self.conflicts -= 1
            raise _error("ResourceConflictException", "Another operation is in progress", "Invoke")
        _, qualifier = split_qualifier(params["FunctionName"])
        if qualifier is None:
            raise _error(
                "InvalidParameterValueException",
                "You cannot invoke a durable function using an unqualified ARN.",
                "Invoke",
            )
        name, payload = params["DurableExecutionName"], params.get("Payload", b"")
        existing = self.executions.get(name)
        if existing is not None:
            if existing.payload != payload:
                raise _error(
                    "DurableExecutionAlreadyStartedException", f"{name} was already started", "Invoke"
                )
            return {"StatusCode": 202}
        self.executions[name] = Execution(version=self._version(qualifier), payload=payload)
        self.local.start(json.loads(payload)["operation_id"])
        return {"StatusCode": 202}

    def send_durable_execution_callback_success(self, **params: Any) -> dict[str, Any]:
        if not self.local.notify(params["CallbackId"]):
            raise _error(
                "CallbackTimeoutException", "the callback is closed", "SendDurableExecutionCallbackSuccess"
            )
        return {}

    def list_durable_executions_by_function(self, **params: Any) -> dict[str, Any]:
        self.listed.append(params)
        wanted = self._version(params["Qualifier"]) if "Qualifier" in params else None
        found = []
        for name, execution in self.executions.items():
            if params.get("DurableExecutionName", "") not in name:
                continue
            if wanted is not None and execution.version != wanted:
                continue
            status = execution.status or self.local.status(name)
            found.append({"DurableExecutionName": name, "Status": status, "Version": execution.version})
        return {"DurableExecutions": found}

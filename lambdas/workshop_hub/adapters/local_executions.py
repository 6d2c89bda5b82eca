"""The worker's durable executions in this process: the durable SDK's own local runner
(aws-durable-execution-sdk-python-testing) runs the real worker handler, replaying it as Lambda
would. Used by the tests and the sandbox; kept out of the Lambda asset.

The runner starts a second execution of the same name; Lambda does not. This adapter keeps Lambda's
rule: one execution per operation id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.exceptions import (
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestResult
from aws_durable_execution_sdk_python_testing.stores.base import ExecutionStore

LIVE = ("RUNNING", "PAUSING", "PAUSED")  # an execution's statuses before it ends


def complete_callback(runner: DurableFunctionTestRunner, callback_id: str) -> bool:
    """SendDurableExecutionCallbackSuccess, as the local runner takes it; a closed callback is False."""
    try:
        runner.send_callback_success(callback_id, b'"your turn"')
    except (ResourceNotFoundException, InvalidParameterValueException):
        return False
    return True


class LocalExecutions:
    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        skip_time: bool = True,
        timeout_s: int = 6 * 3600,
        store: ExecutionStore | None = None,
    ) -> None:
        """``skip_time``: durable waits end at once (tests); False waits for real (the sandbox).
        ``store``: where executions are kept (default: in memory; the sandbox's are on disk)."""
        self.runner = DurableFunctionTestRunner(
            handler=handler, skip_time=skip_time, poll_interval=0.05, store=store
        )
        self.store: ExecutionStore = self.runner._store  # the runner has no public status read
        self.timeout_s = timeout_s
        self.arns: dict[str, str] = {}
        self.notified = 0  # callbacks completed (hand-offs), for tests and the bench
        self._lock = threading.Lock()

    def start(self, operation_id: str) -> None:
        with self._lock:
            if operation_id in self.arns:
                return
            self.arns[operation_id] = self.runner.run_async(
                input=json.dumps({"operation_id": operation_id}),
                execution_name=operation_id,
                execution_timeout=self.timeout_s,
                function_name="worker",
            )

    def status(self, operation_id: str) -> str | None:
        arn = self.arns.get(operation_id)
        if arn is None:
            return None
        try:
            execution = self.store.load(arn)
        except Exception:  # its file is gone (deleted by hand): as Lambda, no such execution
            return None
        return str(execution.current_status().value)

    def notify(self, callback_id: str) -> bool:
        done = complete_callback(self.runner, callback_id)
        self.notified += done
        return done

    def wait(self, operation_id: str, timeout_s: float = 120) -> str | None:
        """Block until the execution ends (tests); returns its status."""
        deadline = time.monotonic() + timeout_s
        while (status := self.status(operation_id)) in LIVE:
            if time.monotonic() > deadline:
                return status
            time.sleep(0.01)
        return status

    def result(self, operation_id: str) -> Any:
        """What the handler returned (JSON text), once the execution has ended."""
        execution = self.store.load(self.arns[operation_id])
        return DurableFunctionTestResult.create(execution=execution).result

    def wait_all(self, timeout_s: float = 120) -> None:
        for operation_id in list(self.arns):
            self.wait(operation_id, timeout_s)

    def close(self) -> None:
        self.runner.close()  # type: ignore[no-untyped-call]

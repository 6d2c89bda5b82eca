"""Handing a queued operation to the worker function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol


class LambdaInvoker(Protocol):
    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> Any: ...


class LambdaDispatcher:
    """Async invoke (InvocationType Event): the API answers 202 while the worker runs the steps."""

    def __init__(self, client: LambdaInvoker, function_name: str) -> None:
        self.client = client
        self.function_name = function_name

    def dispatch(self, operation_id: str) -> None:
        payload = json.dumps({"operation_id": operation_id}).encode()
        self.client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=payload)


class InlineDispatcher:
    """Runs the operation at once, in this process: tests, the bench, the sandbox."""

    def __init__(self, run: Callable[[str], object] | None = None) -> None:
        self.run = run
        self.dispatched: list[str] = []

    def dispatch(self, operation_id: str) -> None:
        self.dispatched.append(operation_id)
        if self.run is not None:
            self.run(operation_id)

"""Worker function: a Lambda durable function. One durable execution per operation, named by its id
(started by the API, a schedule or the reconcile function with {"operation_id": ...}); the workflow is
workshop_hub.engine.run_operation, and each operation's end is recorded as metrics (telemetry.py)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from workshop_hub.engine import run_operation

from handlers import telemetry
from handlers.plane import control_plane


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    op_id = str(event["operation_id"])
    telemetry.logger.set_correlation_id(op_id)
    return run_operation(control_plane().services, context, op_id, on_end=telemetry.record)

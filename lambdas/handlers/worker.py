"""Worker function: runs one queued operation, invoked asynchronously with {"operation_id": ...}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.plane import control_plane
from handlers.telemetry import logger, record, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path="operation_id", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    op = control_plane().run(
        str(event["operation_id"]), time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    record(op)
    if op is None:
        logger.warning("no such operation")
        return {"operation_id": event["operation_id"], "state": None}
    return {"operation_id": op.id, "state": op.state, "error": op.error}

"""Schedule function: EventBridge Scheduler calls it with {"action": ..., "scheduled_time": ...}.

Actions: night-stop, postponed-stop (with "deadline"), morning-start, session-prepare (with
"instance_type"), session-end. Each becomes an operation that waits for its turn on the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workshop_hub.operations import SCHEDULED_KINDS

from handlers.plane import control_plane
from handlers.telemetry import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = str(event.get("action", ""))
    if action not in SCHEDULED_KINDS:
        raise ValueError(f"unknown scheduled action {action!r} (one of: {', '.join(SCHEDULED_KINDS)})")
    op = control_plane().scheduled(action, dict(event))
    logger.set_correlation_id(op.id)
    logger.info("scheduled operation", extra={"action": action, "state": op.state})
    return {"action": action, "operation_id": op.id, "state": op.state}

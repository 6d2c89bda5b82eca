"""Schedule function: EventBridge Scheduler calls it with {"action": ..., "scheduled_time": ...}.

Actions: the kinds a schedule asks for (night-stop, postponed-stop with "deadline", morning-start,
session-prepare with "instance_type", session-end). Each becomes an operation that waits for its turn on
the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workshop_hub.kinds.registry import SCHEDULED

from handlers.plane import control_plane
from handlers.telemetry import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = str(event.get("action", ""))
    actions = [kind.name for kind in SCHEDULED]
    if action not in actions:
        raise ValueError(f"unknown scheduled action {action!r} (one of: {', '.join(actions)})")
    op = control_plane().scheduled(action, dict(event))
    logger.set_correlation_id(op.id)
    logger.info("scheduled operation", extra={"action": action, "state": op.state})
    return {"action": action, "operation_id": op.id, "state": op.state}

"""Reconcile function: the EC2 state-change rule calls it when the hub instance reaches running.

It creates roster users not yet on the hub, syncs the data repos and installs the packages. If an
operation holds the hub (a resize that started it), the reconcile runs when that operation ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.plane import control_plane
from handlers.telemetry import logger, record, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plane = control_plane()
    detail = event.get("detail") or {}
    instance, state = detail.get("instance-id"), detail.get("state")
    if instance != plane.settings.instance_id or state != "running":
        logger.info("ignored state change", extra={"instance": instance, "state": state})
        return {"reconcile": None}
    op = plane.reconcile_on_running()
    if op is None:
        logger.info("another operation holds the hub; the reconcile runs when it ends")
        return {"reconcile": "pending"}
    logger.set_correlation_id(op.id)
    record(op)
    return {"reconcile": op.id, "state": op.state, "error": op.error}

"""Reconcile function: the EC2 state-change rule calls it when the hub instance reaches running.

It queues a reconcile (roster users not yet on the hub, data repos, packages, the filesystem) behind
whatever holds the hub; a reconcile already waiting covers this event too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.plane import control_plane
from handlers.telemetry import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plane = control_plane()
    detail = event.get("detail") or {}
    instance, state = detail.get("instance-id"), detail.get("state")
    if instance != plane.services.deployment.instance_id or state != "running":
        logger.info("ignored state change", extra={"instance": instance, "state": state})
        return {"reconcile": None}
    op = plane.reconcile_on_running(str(event.get("id") or "") or None)
    logger.set_correlation_id(op.id)
    return {"reconcile": op.id, "state": op.state}

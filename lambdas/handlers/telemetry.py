"""Powertools for the worker, reconcile and schedule functions: JSON logs with the operation id as
correlation id, metrics in the WorkshopHub namespace (by operation kind).

X-Ray: the functions have active tracing (Lambda's own segments: invocation, init, the time in each
function). Powertools' Tracer is left out on purpose: importing the X-Ray SDK cost 156 ms of every
cold start (bench/cold_import.py), more than the rest of a handler's imports together."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from workshop_hub.operations import Operation

NAMESPACE = "WorkshopHub"

logger = Logger(service="workshop-hub")
# The domain logs through the standard library ("workshop_hub"): give it the same JSON format.
logging.getLogger("workshop_hub").setLevel(logging.INFO)
copy_config_to_registered_loggers(source_logger=logger, include={"workshop_hub"})


def record(op: Operation | None) -> None:
    """OperationDuration (s) and OperationFailed (count) by kind, and OperationFailed by service alone,
    for an operation that ended (the service dimension is POWERTOOLS_SERVICE_NAME)."""
    if op is None or op.state not in ("succeeded", "failed"):
        return
    failed = 1 if op.state == "failed" else 0
    with single_metric(
        name="OperationFailed", unit=MetricUnit.Count, value=failed, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name="kind", value=op.kind)
    # The same count by service alone: what the "an operation failed" alarm watches, whatever the kind.
    with single_metric(name="OperationFailed", unit=MetricUnit.Count, value=failed, namespace=NAMESPACE):
        pass
    if op.duration_s is not None:
        with single_metric(
            name="OperationDuration", unit=MetricUnit.Seconds, value=op.duration_s, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="kind", value=op.kind)
    logger.info(
        "operation ended",
        extra={"kind": op.kind, "state": op.state, "error": op.error, "duration_s": op.duration_s},
    )

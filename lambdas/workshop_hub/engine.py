"""The worker's durable execution of one operation: wait for the hub's turn (if the kind needs the
lease), run the kind's workflow, release the lease on every path, record the end. A crash or a timeout
of one invocation replays this function; the steps already done return their checkpointed results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.exceptions import UnrecoverableError

from workshop_hub import turns
from workshop_hub.errors import OperationFailed
from workshop_hub.flow import DOMAIN_ERRORS, Flow
from workshop_hub.kinds.registry import REGISTRY
from workshop_hub.operations import Operation
from workshop_hub.ports import AgentError
from workshop_hub.run import Run
from workshop_hub.services import Services

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python import DurableContext

log = logging.getLogger("workshop_hub")

OnEnd = Callable[[Operation], None]


def _nothing(op: Operation) -> None:
    pass


def run_operation(
    services: Services, context: DurableContext, op_id: str, *, on_end: OnEnd = _nothing
) -> dict[str, Any]:
    """``on_end`` sees the operation as it ends, before its record says so (the worker's metrics: whoever
    waits for the end then sees them out)."""
    operations = services.stores.operations
    flow = Flow(context, op_id, operations, services.clock)
    loaded = flow.step("load the operation", lambda: _load(services, op_id), record=False)
    if loaded is None:
        return {"operation_id": op_id, "state": None, "error": "no such operation"}
    op = Operation.from_dict(loaded)
    if op.ended:
        return {"operation_id": op_id, "state": op.state, "error": op.error}
    kind = REGISTRY.get(op.kind)
    run = Run(flow, services, op)
    error: str | None = None
    try:
        if kind is None or kind.workflow is None:
            raise OperationFailed(f"no workflow for operation kind {op.kind}")
        if kind.lease:
            turns.wait_for_turn(run)
        run.result.update(kind.workflow(run) or {})
    except UnrecoverableError:
        raise  # the SDK's own: the invocation fails and Lambda retries or ends the execution
    except Exception as err:
        error = str(err) or type(err).__name__
        if isinstance(err, AgentError) and err.result:
            run.result.setdefault("agent", err.result)
        if not isinstance(err, tuple(DOMAIN_ERRORS.values())):
            log.warning("operation failed unexpectedly", extra={"operation_id": op_id, "error": error})
        after_failure = kind.after_failure if kind is not None else None
        if after_failure is not None:
            flow.step("leave it for the next reconcile", lambda: after_failure(run), record=False)
    if kind is not None and kind.sensitive is not None:
        sensitive = kind.sensitive
        flow.step(sensitive.label, lambda: sensitive.forget(services, op_id))
    if kind is not None and kind.lease:
        flow.step("release the hub", lambda: turns.leave(services, op_id), record=False)
    state = "failed" if error else "succeeded"
    flow.step("record the end", lambda: _end(services, op_id, state, error, run.result, on_end), record=False)
    return {"operation_id": op_id, "state": state, "error": error}


def _load(services: Services, op_id: str) -> dict[str, Any] | None:
    op = services.stores.operations.get(op_id)
    return op.to_dict() if op else None


def _end(
    services: Services, op_id: str, state: str, error: str | None, result: dict[str, Any], on_end: OnEnd
) -> None:
    operations = services.stores.operations
    op = operations.get(op_id)
    if op is None:
        raise LookupError(f"no operation {op_id}")
    op.end(state, services.clock(), error=error, result=result)
    on_end(op)
    operations.save(op)

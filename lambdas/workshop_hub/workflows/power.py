"""start and stop (and the morning start)."""

from __future__ import annotations

from typing import Any

from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported
from workshop_hub.workflows.run import Run


def start(run: Run) -> dict[str, Any]:
    if run.settle() == "running":
        run.flow.note("already running")
        return {"state": "running"}
    try:
        run.power_on()
    except (InsufficientCapacity, TypeUnsupported) as err:
        raise OperationFailed(
            f"EC2 cannot start the hub as {run.instance_type()} in its zone right now ({err}); "
            "try again in a few minutes or resize to another type"
        ) from None
    return {"state": "running", "instance_type": run.instance_type()}


def stop(run: Run) -> dict[str, Any]:
    if run.settle() == "stopped":
        run.flow.note("already stopped")
        return {"state": "stopped"}
    if not run.params.get("force"):
        run.refuse_if_active("stopped")
    run.power_off()
    return {"state": "stopped"}

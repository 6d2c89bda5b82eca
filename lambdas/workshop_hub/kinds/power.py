"""Start and stop the hub: when the instructor says so, and every morning."""

from __future__ import annotations

from typing import Any

from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported
from workshop_hub.kinds.kind import SCHEDULE, Instructor, Kind, Route
from workshop_hub.kinds.params import Flag, Params, Scheduled
from workshop_hub.run import Run


class StopParams(Params):
    force: Flag = False  # also while participants are active


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


START = Kind(
    "start",
    Params,
    Instructor(Route("POST", "/instance/start", body="none"), command="start", example={}),
    workflow=start,
)
MORNING_START = Kind("morning-start", Scheduled, SCHEDULE, workflow=start)
STOP = Kind(
    "stop",
    StopParams,
    Instructor(Route("POST", "/instance/stop", body="optional"), command="stop", example={"force": True}),
    workflow=stop,
)
KINDS = (START, MORNING_START, STOP)

"""Resize the hub: when the instructor says so, and around each session (bigger before it, back after).
Once the hub has been stopped for a new type, ANY failure after that goes back: the old type, started,
checked healthy; the error then says what failed and how the hub stands now."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.exceptions import UnrecoverableError

from workshop_hub.decisions import End, plan_resize
from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported
from workshop_hub.kinds.kind import SCHEDULE, Instructor, Kind, Route
from workshop_hub.kinds.params import Flag, HubInstanceType, Params, Scheduled
from workshop_hub.run import Run
from workshop_hub.services import Services
from workshop_hub.times import parse_time


class ResizeParams(Params):
    instance_type: HubInstanceType
    force: Flag = False  # also while participants are active
    everyday: Flag = False  # the new everyday size (session ends return to it), not just for now

    def record(self) -> dict[str, Any]:
        # The flags are recorded only when asked for.
        return {"instance_type": self.instance_type} | {
            flag: True for flag in ("force", "everyday") if getattr(self, flag)
        }


class SessionPrepareParams(Scheduled):
    instance_type: HubInstanceType


def record_everyday_size(services: Services, params: dict[str, Any]) -> None:
    if params.get("everyday"):
        services.stores.desired.set(instance_type=params["instance_type"])


def resize(run: Run) -> dict[str, Any]:
    return change_type(run, run.params["instance_type"], end="as-before", force=bool(run.params.get("force")))


def session_prepare(run: Run) -> dict[str, Any]:
    return change_type(run, run.params["instance_type"], end="running", force=True)


def session_end(run: Run) -> dict[str, Any]:
    """Back to the everyday size; stopped, unless keep-awake holds the hub up."""
    desired = run.flow.step("read the desired state", lambda: _everyday_and_awake(run), record=False)
    if desired["keep_awake"]:
        run.flow.note("keep-awake is set: the hub stays up after the resize")
        return change_type(run, desired["everyday"], end="running", force=True)
    return change_type(run, desired["everyday"], end="stopped", force=True)


def _everyday_and_awake(run: Run) -> dict[str, Any]:
    services = run.services
    state = services.stores.desired.get()
    until = state.keep_awake_until
    return {
        "everyday": state.instance_type or services.config.hub.instance_type,
        "keep_awake": bool(until and parse_time(until) > services.clock()),
    }


def change_type(run: Run, target: str, *, end: End, force: bool) -> dict[str, Any]:
    hub = run.services.hub
    state = run.settle()
    current = run.instance_type()
    plan = plan_resize(state=state, current=current, target=target, end=end, force=force)
    result: dict[str, Any] = {"from": current, "to": target}
    if plan.check_activity:
        run.refuse_if_active("resized")
    if not plan.change_type:
        run.flow.note(f"type is already {target}")
        if plan.start_after:
            run.power_on()
            run.wait_for_hub()
        elif plan.stop_after:
            run.power_off()
        return {
            **result,
            "changed": False,
            "state": "running"
            if plan.start_after or (state == "running" and not plan.stop_after)
            else "stopped",
        }
    offered = run.flow.step(
        f"check that {target} is offered in the hub's zone",
        lambda: hub.offered_in_zone(target),
        detail=lambda ok: "offered" if ok else "not offered",
    )
    if not offered:
        raise TypeUnsupported(
            f"EC2 does not offer {target} in the hub's Availability Zone; nothing was changed"
        )
    if plan.stop_first:
        run.power_off()
    try:
        run.flow.step(f"change type {current} -> {target}", lambda: hub.set_instance_type(target))
        if plan.start_after:
            run.power_on()
            run.wait_for_hub()
    except UnrecoverableError:
        raise
    except Exception as err:
        roll_back(run, current, _why(err, target), start=plan.start_after or state == "running")
    return {**result, "changed": True, "state": "running" if plan.start_after else "stopped"}


def _why(err: Exception, target: str) -> str:
    if isinstance(err, InsufficientCapacity):
        return f"EC2 has no {target} capacity right now ({err})"
    return str(err) or type(err).__name__


def roll_back(run: Run, old: str, why: str, *, start: bool) -> None:
    """Back to ``old`` (started when ``start``), then raise what failed and how the hub stands now."""
    try:
        if run.settle() == "running":
            run.power_off("roll back: ")
        run.flow.step(
            f"roll back: change type back to {old}", lambda: run.services.hub.set_instance_type(old)
        )
        if start:
            run.power_on("roll back: ")
            run.wait_for_hub("roll back: wait for hub health")
    except UnrecoverableError:
        raise
    except Exception as err:
        view = run.flow.step("read the instance", lambda: _view(run), record=False)
        run.result["hub_now"] = {**view, "healthy": False}
        raise OperationFailed(
            f"{why}; rolling back to {old} failed too: {err}; the hub is now {view['state']} as {view['type']}"
        ) from None
    now = "runs as" if start else "is stopped as"
    run.result["hub_now"] = {"state": "running" if start else "stopped", "type": old, "healthy": start}
    raise OperationFailed(
        f"{why}; rolled back: the hub {now} {old} again" + (" and answers" if start else "")
    )


def _view(run: Run) -> dict[str, str]:
    view = run.services.hub.describe()
    return {"state": view.state, "type": view.instance_type}


RESIZE = Kind(
    "resize",
    ResizeParams,
    Instructor(Route("POST", "/instance/resize"), command="resize", example={"instance_type": "t3.xlarge"}),
    workflow=resize,
    record=record_everyday_size,
)
SESSION_PREPARE = Kind("session-prepare", SessionPrepareParams, SCHEDULE, workflow=session_prepare)
SESSION_END = Kind("session-end", Scheduled, SCHEDULE, workflow=session_end)
KINDS = (RESIZE, SESSION_PREPARE, SESSION_END)

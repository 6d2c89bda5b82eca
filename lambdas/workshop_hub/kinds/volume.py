"""Grow the hub's disk: snapshot, modify the EBS volume, wait until it can be used, grow partition and
filesystem (or leave that to the next reconcile when the hub is not running)."""

from __future__ import annotations

from typing import Any

from workshop_hub.ec2_rules import VolumeModification, volume_change_check
from workshop_hub.errors import InvalidRequest, OperationFailed, VolumeChangeRefused
from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.params import Params, SizeGib
from workshop_hub.ports import AgentError
from workshop_hub.run import Run
from workshop_hub.services import Services

SNAPSHOT_TAGS = ("workshop-hub:hub", "workshop-hub:reason")


class GrowParams(Params):
    size_gib: SizeGib


def check_grow(services: Services, size_gib: int) -> dict[str, Any]:
    """Before anything is recorded or snapshotted: only larger, and only when EBS will take a change
    now (the previous one completed, at most four in a rolling 24 hours: ec2_rules)."""
    volume = services.hub.volume()
    if size_gib <= volume.size_gib:
        raise InvalidRequest(
            "size_gib",
            f"must be larger than the volume's current {volume.size_gib} GiB (EBS volumes only grow)",
            size_gib,
        )
    known = [VolumeModification.from_json(m) for m in services.stores.desired.volume_changes()]
    check = volume_change_check([*known, *services.hub.volume_modifications()], services.clock())
    if not check.allowed:
        raise VolumeChangeRefused(check.reason, check.possible_at)
    return {"volume_id": volume.volume_id, "size_gib": volume.size_gib}


def _check(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    check_grow(services, params["size_gib"])
    return params


def _record(services: Services, params: dict[str, Any]) -> None:
    services.stores.desired.set(volume_gib=params["size_gib"])


def grow(run: Run) -> dict[str, Any]:
    size = int(run.params["size_gib"])
    hub = run.services.hub
    volume = run.flow.step(
        "check the volume",
        lambda: check_grow(run.services, size),
        detail=lambda v: f"{v['volume_id']}: {v['size_gib']} GiB",
    )
    name = run.services.deployment.hub_name
    snapshot = run.flow.step(
        "snapshot before growing",
        lambda: hub.snapshot(
            f"{name}: before growing {volume['size_gib']} -> {size} GiB",
            {SNAPSHOT_TAGS[0]: name, SNAPSHOT_TAGS[1]: "pre-grow"},
        ),
        detail=str,
    )

    def modify() -> None:
        started = hub.modify_volume(size)
        if started:
            run.services.stores.desired.record_volume_change(started)

    run.flow.step(f"modify volume {volume['size_gib']} -> {size} GiB", modify)
    t = run.services.timeouts

    def usable() -> str | None:
        state = hub.volume().modification_state or "completed"
        if state in ("optimizing", "completed"):
            return state
        if state == "failed":
            raise OperationFailed(f"EC2 reports the modification of {volume['volume_id']} failed")
        run.flow.waiting(f"still '{state}'")
        return None

    run.flow.wait_until(
        "wait for optimizing",
        usable,
        every_s=t.volume_every_s,
        timeout_s=t.volume_s,
        on_timeout=lambda note: OperationFailed(f"the volume modification did not become usable: {note}"),
        detail=str,
    )
    result: dict[str, Any] = {
        "volume_id": volume["volume_id"],
        "old_gib": volume["size_gib"],
        "new_gib": size,
        "snapshot_id": snapshot,
    }
    run.result.update(result)
    try:
        disk = run.on_hub("disk-grow", {}, defer="filesystem")
    except (AgentError, OperationFailed) as err:
        run.flow.step(
            "the filesystem waits for the reconcile", lambda: run.services.stores.desired.defer("filesystem")
        )
        raise OperationFailed(
            f"the volume is now {size} GiB but the filesystem did not grow: {err}; the next reconcile retries"
        ) from None
    result["filesystem"] = disk
    return result


GROW = Kind(
    "grow",
    GrowParams,
    Instructor(Route("POST", "/volume/grow"), command="grow", example={"size_gib": 64}),
    workflow=grow,
    check=_check,
    record=_record,
)
KINDS = (GROW,)

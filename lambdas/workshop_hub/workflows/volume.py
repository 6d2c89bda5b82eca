"""grow: snapshot, modify the EBS volume, wait until it can be used, grow partition and filesystem."""

from __future__ import annotations

from typing import Any

from workshop_hub.errors import OperationFailed
from workshop_hub.ports import AgentError
from workshop_hub.workflows.run import Run

SNAPSHOT_TAGS = ("workshop-hub:hub", "workshop-hub:reason")


def grow(run: Run) -> dict[str, Any]:
    from workshop_hub.kinds import check_grow

    size = int(run.params["size_gib"])
    hub = run.services.hub
    volume = run.flow.step(
        "check the volume",
        lambda: check_grow(run.services, size),
        detail=lambda v: f"{v['volume_id']}: {v['size_gib']} GiB",
    )
    name = run.services.settings.hub_name
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
        disk = run.on_hub("disk-grow", {}, timeout_s=t.command_s, defer="filesystem")
    except (AgentError, OperationFailed) as err:
        run.flow.step(
            "the filesystem waits for the reconcile", lambda: run.services.stores.desired.defer("filesystem")
        )
        raise OperationFailed(
            f"the volume is now {size} GiB but the filesystem did not grow: {err}; the next reconcile retries"
        ) from None
    result["filesystem"] = disk
    return result

"""What GET /status, GET /users and GET /operations answer."""

from __future__ import annotations

from typing import Any

from workshop_hub import schedules
from workshop_hub.operations import iso
from workshop_hub.ports import AgentError
from workshop_hub.services import Services


def status(services: Services) -> dict[str, Any]:
    now = services.clock()
    stores = services.stores
    view = services.hub.describe()
    volume = services.hub.volume()
    health: dict[str, Any] | None = None
    if view.state == "running":
        try:
            health = services.commands.run("health", {}, timeout_s=services.timeouts.status_health_s)
        except AgentError as err:
            health = {"ok": False, "hub_ok": False, "error": str(err)}
    desired = stores.desired.get()
    holder = stores.lease.holder()
    sync_op, _ = stores.roster.sync_state()
    running = [op for op in (stores.operations.get(holder.operation_id) if holder else None,) if op]
    if sync_op and (sync := stores.operations.get(sync_op)) is not None:
        running.append(sync)
    waiting = [op for op_id, _ in stores.lease.queue() if (op := stores.operations.get(op_id)) is not None]
    return {
        "instance": {
            "id": services.settings.instance_id,
            "state": view.state,
            "type": view.instance_type,
            "public_ip": view.public_ip,
        },
        "hub_url": services.settings.hub_url,
        "volume_id": volume.volume_id,
        "volume_gib": volume.size_gib,
        "volume_last_modified": iso(volume.last_modified) if volume.last_modified else None,
        "schedule": schedules.summary(services.config, now),
        "timezone": services.config.schedule.timezone,
        "keep_awake_until": desired.keep_awake_until,
        "everyday_instance_type": desired.instance_type or services.config.hub.instance_type,
        "pending": sorted(desired.pending),
        "hub_health": health,
        "operation_in_progress": holder.operation_id if holder else None,
        "running": [op.summary() for op in running],
        "waiting": [op.summary() for op in waiting],
        "last_operations": [op.summary() for op in stores.operations.recent(5)],
    }


def roster(services: Services) -> list[dict[str, Any]]:
    return [entry.to_dict() for entry in services.stores.roster.entries()]

"""What GET /status, GET /users and GET /operations answer."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from workshop_hub import schedules
from workshop_hub.ports import AgentError, run_now
from workshop_hub.services import Services
from workshop_hub.stores import DesiredState
from workshop_hub.times import iso, parse_time


def status(services: Services) -> dict[str, Any]:
    now = services.clock()
    stores = services.stores
    view = services.hub.describe()
    volume = services.hub.volume()
    health: dict[str, Any] | None = None
    if view.state == "running":
        try:
            health = run_now(services.commands, "health", {}, services.timeouts.status_health_s)
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
            "id": services.deployment.instance_id,
            "state": view.state,
            "type": view.instance_type,
            "public_ip": view.public_ip,
        },
        "hub_url": services.deployment.hub_url,
        "volume_id": volume.volume_id,
        "volume_gib": volume.size_gib,
        "volume_last_modified": iso(volume.last_modified) if volume.last_modified else None,
        "schedule": schedules.summary(services.config, now),
        "timezone": services.config.schedule.timezone,
        "keep_awake_until": desired.keep_awake_until,
        "next_stop": next_stop(services, desired, now),
        "everyday_instance_type": desired.instance_type or services.config.hub.instance_type,
        "pending": sorted(desired.pending),
        "signup": signup(services, now),
        "packages_failed": desired.failed_packages,
        "hub_health": health,
        "operation_in_progress": holder.operation_id if holder else None,
        "running": [op.summary() for op in running],
        "waiting": [op.summary() for op in waiting],
        "last_operations": [op.summary() for op in stores.operations.recent(5)],
    }


def roster(services: Services) -> list[dict[str, Any]]:
    return [entry.to_dict() for entry in services.stores.roster.entries()]


def signup(services: Services, now: dt.datetime) -> dict[str, Any]:
    """The walk-in sign-up door as the control plane asked for it: open until when, with which code."""
    desired = services.stores.desired.get()
    until = parse_time(desired.signup_until) if desired.signup_until else None
    is_open = until is not None and until > now
    url = services.deployment.hub_url.rstrip("/") + "/hub/signup" if services.deployment.hub_url else None
    return {
        "open": is_open,
        "until": until.astimezone(ZoneInfo(services.config.schedule.timezone)).isoformat()
        if is_open and until
        else None,
        "code": desired.signup_code if is_open else None,
        "url": url,
        "pending": "signup" in desired.pending,
        "walk_ins": sum(1 for e in services.stores.roster.entries() if e.source == "walk-in"),
    }


def next_stop(services: Services, desired: DesiredState, now: dt.datetime) -> dict[str, str] | None:
    """When the hub stops next, and why: a pending one-time stop (postponed, or at keep-awake's end),
    else the night stop, moved to keep-awake's end while one is set. Local time in schedule.timezone."""
    zone = ZoneInfo(services.config.schedule.timezone)
    if desired.stop_at and parse_time(desired.stop_at) > now:
        return {"at": parse_time(desired.stop_at).astimezone(zone).isoformat(), "why": desired.stop_why or ""}
    night = next((s for s in schedules.schedule_specs(services.config, now) if s.name == "night-stop"), None)
    fire = schedules.next_fire_time(night, now) if night else None
    if fire is None:
        return None
    keep = parse_time(desired.keep_awake_until) if desired.keep_awake_until else None
    if keep is not None and keep > fire:
        return {
            "at": keep.astimezone(zone).isoformat(),
            "why": "keep-awake ends (the night stop moves there)",
        }
    return {"at": fire.astimezone(zone).isoformat(), "why": "night stop"}

"""Every kind of operation, in one registry: what a request records before anything runs, whether the
operation needs the hub's lease, and the workflow that runs it. A new kind is one entry here and one
workflow function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from workshop_hub.ec2_rules import VolumeModification, volume_change_check
from workshop_hub.errors import InvalidRequest, Missing, VolumeChangeRefused
from workshop_hub.operations import iso, parse_time
from workshop_hub.services import Services
from workshop_hub.store.roster import RosterEntry
from workshop_hub.workflows import hubwork, night_stop, passwords, power, reconcile, resize, roster, volume
from workshop_hub.workflows.run import Run

Workflow = Callable[[Run], "dict[str, Any] | None"]
Recorder = Callable[[Services, dict[str, Any]], None]
Completer = Callable[[Services, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Aside:
    """Parameters an operation must never record (password hashes): ``keep`` stores them in their own
    item under the operation's id at submit and returns the parameters to record; the workflow's step
    that needs them reads them there; ``forget`` deletes them in the operation's last step (``label``),
    on every path."""

    keep: Callable[[Services, str, dict[str, Any]], dict[str, Any]]
    forget: Callable[[Services, str], None]
    label: str


@dataclass(frozen=True)
class Kind:
    name: str
    workflow: Workflow | None  # None: recording is the whole operation (it succeeds at once)
    lease: bool = True  # changes the hub: waits for its turn, one at a time
    record: Recorder | None = None  # the desired state, written before the operation runs
    complete: Completer | None = None  # checks that need the state, still before anything is recorded
    after_failure: Callable[[Run], None] | None = None
    aside: Aside | None = None


# --- what requests record -------------------------------------------------------------------------


def _record_resize(services: Services, p: dict[str, Any]) -> None:
    if p.get("everyday"):
        services.stores.desired.set(instance_type=p["instance_type"])


def _record_grow(services: Services, p: dict[str, Any]) -> None:
    services.stores.desired.set(volume_gib=p["size_gib"])


def _record_data(services: Services, p: dict[str, Any]) -> None:
    services.stores.desired.put_data_repo(p["name"], p["repo"], p["ref"])


def _record_packages(services: Services, p: dict[str, Any]) -> None:
    services.stores.desired.put_packages(p["manager"], p["packages"])


def _forget_package(services: Services, p: dict[str, Any]) -> None:
    if not services.stores.desired.forget_package(p["manager"], p["spec"]):
        raise Missing("spec", f"is not a {p['manager']} package asked for through the API", p["spec"])


def _record_keep_awake(services: Services, p: dict[str, Any]) -> None:
    desired = services.stores.desired
    if p.get("off"):
        desired.unset("keep_awake_until")
    else:
        desired.set(keep_awake_until=p["until"])
    _move_keep_awake_stop(services, None if p.get("off") else parse_time(p["until"]))


def _move_keep_awake_stop(services: Services, until: dt.datetime | None) -> None:
    """Tonight's night stop already waits for keep-awake's end: move it to the new end, or (off) to a
    minute from now, keeping its window and its activity rules."""
    state = services.stores.desired.get()
    if not state.keep_awake_stop:
        return
    services.schedules.delete(state.keep_awake_stop)
    at = until or services.clock() + dt.timedelta(minutes=1)
    tz = services.config.schedule.timezone
    name = f"postponed-stop-{at.astimezone(ZoneInfo(tz)):%Y%m%dT%H%M%S}"
    deadline = at + dt.timedelta(seconds=state.keep_awake_window_s)
    services.schedules.create(name, at, tz, {"action": "postponed-stop", "deadline": iso(deadline)})
    why = "keep-awake ends" if until else "keep-awake was switched off"
    services.stores.desired.set(keep_awake_stop=name, stop_at=iso(at), stop_why=why)


def _record_users(services: Services, p: dict[str, Any]) -> None:
    roster = services.stores.roster
    known = roster.find(p["usernames"])
    now = iso(services.clock())
    sources = p.get("sources") or {}
    entries = []
    for name in p["usernames"]:
        earlier = known.get(name)
        live = (
            earlier if earlier is not None and not earlier.removing else None
        )  # one being removed comes back new
        admin = p["admin"] or bool(live and live.admin)
        on_hub = bool(live and live.on_hub and live.admin == admin)
        added = live.added_at if live else now
        source = sources.get(name) or (earlier.source if earlier else None)
        entries.append(RosterEntry(name, admin=admin, on_hub=on_hub, added_at=added, source=source))
    roster.put(entries)


def _record_removal(services: Services, p: dict[str, Any]) -> None:
    name = p["username"]
    entry = services.stores.roster.find([name]).get(name)
    if entry is None:
        raise Missing("username", "is not on the roster", name)
    services.stores.roster.put(
        [
            RosterEntry(
                name,
                admin=False,
                on_hub=entry.on_hub,
                added_at=entry.added_at,
                removing=True,
                source=entry.source,
            )
        ]
    )


def _keep_hashes(services: Services, op_id: str, p: dict[str, Any]) -> dict[str, Any]:
    services.stores.passwords.put(op_id, p["hashes"])
    return {key: value for key, value in p.items() if key != "hashes"}


def _forget_hashes(services: Services, op_id: str) -> None:
    services.stores.passwords.forget(op_id)


PASSWORD_HASHES = Aside(_keep_hashes, _forget_hashes, "forget the password hashes")


# --- checks at submit -----------------------------------------------------------------------------


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


def _complete_grow(services: Services, p: dict[str, Any]) -> dict[str, Any]:
    check_grow(services, p["size_gib"])
    return p


def _complete_data(services: Services, p: dict[str, Any]) -> dict[str, Any]:
    if "repo" in p:
        return p
    known = {r.name: {"repo": r.repo, "ref": r.ref} for r in services.config.data_repos}
    known.update(services.stores.desired.get().data_repos)
    repo = known.get(p["name"])
    if repo is None:
        raise InvalidRequest("repo", "is required for a data repo that is not configured yet", None)
    return {**p, "repo": repo["repo"], "ref": p["ref"] or repo.get("ref")}


def _complete_passwords(services: Services, p: dict[str, Any]) -> dict[str, Any]:
    """Every name must be on the roster (added, not being removed): else 404 naming it."""
    known = services.stores.roster.find(p["usernames"])
    for index, name in enumerate(p["usernames"]):
        entry = known.get(name)
        if entry is None or entry.removing:
            raise Missing(f"credentials[{index}].username", "is not on the roster (add the user first)", name)
    return p


REGISTRY: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("start", power.start),
        Kind("morning-start", power.start),
        Kind("stop", power.stop),
        Kind("resize", resize.resize, record=_record_resize),
        Kind("session-prepare", resize.session_prepare),
        Kind("session-end", resize.session_end),
        Kind("night-stop", night_stop.night_stop),
        Kind("postponed-stop", night_stop.night_stop),
        Kind("grow", volume.grow, record=_record_grow, complete=_complete_grow),
        Kind("data-sync", hubwork.data_sync, record=_record_data, complete=_complete_data),
        Kind("packages", hubwork.packages, record=_record_packages),
        Kind("packages-remove", None, lease=False, record=_forget_package),
        Kind("keep-awake", None, lease=False, record=_record_keep_awake),
        Kind("reconcile", reconcile.reconcile),
        # users-add and users-remove record roster entries and answer with the roster sync that creates them.
        Kind("users-add", None, lease=False, record=_record_users),
        Kind("users-remove", None, lease=False, record=_record_removal),
        Kind("roster-sync", roster.roster_sync, lease=False, after_failure=roster.after_failure),
        # Beside the others, as the roster sync: it neither stops nor resizes the hub.
        Kind(
            "users-set-passwords",
            passwords.set_passwords,
            lease=False,
            complete=_complete_passwords,
            aside=PASSWORD_HASHES,
        ),
    )
}
ROSTER_KINDS = ("users-add", "users-remove")

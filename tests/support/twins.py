"""In-memory twins of the domain's ports: the hub's machine, the one-time schedules, and every store.

They keep the rules the AWS adapters keep (EC2 changes the type of a stopped instance only, EBS takes a
volume change when the last one completed and at most four a day, a conditional write fails as
DynamoDB's does), so the domain's unit tests run without moto. tests/unit/test_twins_contract.py holds
each twin and its adapter to the same assertions.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from workshop_hub import ec2_rules
from workshop_hub.ec2_rules import VolumeModification, volume_change_check
from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported, VolumeChangeRefused
from workshop_hub.operations import Operation
from workshop_hub.ports import InstanceView, VolumeView
from workshop_hub.stores import DesiredState, Holder, RosterEntry, Stores, package_key
from workshop_hub.times import iso, utcnow

Clock = Callable[[], dt.datetime]


# --- the hub's machine -----------------------------------------------------------------------------


@dataclass
class MemoryHubMachine:
    """One instance and its root volume. Faults on demand: ``no_capacity`` (types EC2 has no capacity
    for), ``not_offered`` (types absent from the zone), ``never_running`` (a start stays 'pending'),
    ``held`` (a volume modification stays in that state)."""

    clock: Clock = utcnow
    instance_id: str = "i-0123456789abcdef0"
    state: str = "running"
    instance_type: str = "t3.medium"
    volume_id: str = "vol-0123456789abcdef0"
    size_gib: int = 30
    no_capacity: set[str] = field(default_factory=set)
    not_offered: set[str] = field(default_factory=set)
    never_running: bool = False
    held: str | None = None
    modifications: list[VolumeModification] = field(default_factory=list)
    snapshots: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def describe(self) -> InstanceView:
        public_ip = "203.0.113.10" if self.state == "running" else None
        return InstanceView(self.state, self.instance_type, public_ip, self.volume_id, "eu-west-1a")

    def start(self) -> None:
        self.calls.append("start")
        if self.instance_type in self.no_capacity:
            raise InsufficientCapacity(f"We currently do not have sufficient {self.instance_type} capacity")
        if self.instance_type in self.not_offered:
            raise TypeUnsupported(f"Your requested instance type ({self.instance_type}) is not supported")
        self.state = "pending" if self.never_running else "running"

    def stop(self) -> None:
        self.calls.append("stop")
        self.state = "stopped"

    def set_instance_type(self, instance_type: str) -> None:
        self.calls.append(f"set_instance_type {instance_type}")
        if self.state != "stopped":
            raise OperationFailed(
                "EC2 changes the type of a stopped instance only (IncorrectInstanceState): "
                f"the instance is {self.state}"
            )
        if ec2_rules.architecture_mismatch(instance_type, self.instance_type) is not None:
            raise TypeUnsupported(f"EC2 refused the type change to {instance_type} (InvalidParameterValue)")
        self.instance_type = instance_type

    def offered_in_zone(self, instance_type: str) -> bool:
        return instance_type not in self.not_offered

    def volume(self) -> VolumeView:
        latest = next(iter(self.volume_modifications()), None)
        return VolumeView(
            volume_id=self.volume_id,
            size_gib=self.size_gib,
            last_modified=latest.started_at if latest else None,
            modification_state=latest.state if latest else None,
        )

    def volume_modifications(self) -> list[VolumeModification]:
        # EC2 reports the latest modification only.
        return sorted(self.modifications, key=lambda m: m.started_at, reverse=True)[:1]

    def snapshot(self, description: str, tags: dict[str, str]) -> str:
        self.snapshots.append((description, dict(tags)))
        return f"snap-{len(self.snapshots):017d}"

    def modify_volume(self, size_gib: int) -> dict[str, Any] | None:
        now = self.clock()
        check = volume_change_check(self.modifications, now)
        if not check.allowed:
            raise VolumeChangeRefused(f"EBS refused to change {self.volume_id}: {check.reason}")
        state = self.held or "completed"
        ended = None if self.held else now
        started = VolumeModification(state=state, started_at=now, target_size_gib=size_gib, ended_at=ended)
        self.modifications.append(started)
        self.size_gib = size_gib
        return started.to_json()


@dataclass
class MemorySchedules:
    created: dict[str, tuple[dt.datetime, str, dict[str, Any]]] = field(default_factory=dict)

    def create(self, name: str, at: dt.datetime, timezone: str, payload: dict[str, Any]) -> str:
        self.created[name] = (at, timezone, dict(payload))
        return f"at({at.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M:%S})"

    def delete(self, name: str) -> None:
        self.created.pop(name, None)


# --- the stores ------------------------------------------------------------------------------------


@dataclass
class MemoryOperationLog:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self, op: Operation) -> None:
        self.records[op.id] = copy.deepcopy(op.to_dict())

    def get(self, op_id: str) -> Operation | None:
        found = self.records.get(op_id)
        return Operation.from_dict(copy.deepcopy(found)) if found else None

    def discard(self, op_id: str) -> None:
        if self.records.get(op_id, {}).get("state") == "queued":
            del self.records[op_id]

    def recent(self, limit: int = 20) -> list[Operation]:
        newest = sorted(self.records, reverse=True)[:limit]
        return [Operation.from_dict(copy.deepcopy(self.records[op_id])) for op_id in newest]

    def unfinished(self) -> list[Operation]:
        return [
            Operation.from_dict(copy.deepcopy(self.records[op_id]))
            for op_id in sorted(self.records)
            if self.records[op_id].get("state") in ("queued", "running")
        ]


@dataclass
class MemoryLease:
    clock: Clock = utcnow
    held: Holder | None = None
    waiting: dict[str, str] = field(default_factory=dict)
    callbacks: dict[str, str] = field(default_factory=dict)

    def holder(self) -> Holder | None:
        return self.held

    def take(self, op_id: str, kind: str) -> bool:
        if self.held is not None and self.held.operation_id != op_id:
            return False
        self.held = Holder(op_id, kind, iso(self.clock()))
        return True

    def release(self, op_id: str) -> bool:
        if self.held is None or self.held.operation_id != op_id:
            return False
        self.held = None
        return True

    def enqueue(self, op_id: str, kind: str) -> None:
        self.waiting[op_id] = kind

    def queue(self) -> list[tuple[str, str]]:
        return sorted(self.waiting.items())

    def dequeue(self, op_id: str) -> None:
        self.waiting.pop(op_id, None)
        self.callbacks.pop(op_id, None)

    def wait_here(self, op_id: str, callback_id: str) -> bool:
        if op_id not in self.waiting:
            return False
        self.callbacks[op_id] = callback_id
        return True

    def callback(self, op_id: str) -> str | None:
        return self.callbacks.get(op_id)


@dataclass
class MemoryRoster:
    users: dict[str, RosterEntry] = field(default_factory=dict)
    generation: int = 0
    sync_op: str | None = None

    def entries(self, *, include_removing: bool = False) -> list[RosterEntry]:
        return [copy.copy(e) for _, e in sorted(self.users.items()) if include_removing or not e.removing]

    def find(self, names: list[str]) -> dict[str, RosterEntry]:
        return {name: copy.copy(self.users[name]) for name in names if name in self.users}

    def put(self, entries: list[RosterEntry]) -> None:
        self.users.update((e.username, copy.copy(e)) for e in entries)

    def delete(self, username: str) -> None:
        self.users.pop(username, None)

    def mark_on_hub(self, names: set[str]) -> None:
        for name in names:
            entry = self.users.get(name)
            if entry is not None and not entry.removing:
                entry.on_hub = True

    def request_sync(self, candidate_op_id: str) -> tuple[str, bool]:
        self.generation += 1
        if self.sync_op is None:
            self.sync_op = candidate_op_id
        return self.sync_op, self.sync_op == candidate_op_id

    def sync_state(self) -> tuple[str | None, int]:
        return self.sync_op, self.generation

    def finish_sync(self, op_id: str, generation: int) -> bool:
        if self.sync_op != op_id or self.generation != generation:
            return False
        self.sync_op = None
        return True

    def abandon_sync(self, op_id: str) -> None:
        if self.sync_op == op_id:
            self.sync_op = None


# DesiredState's single values (the rest is built from the repos and packages).
_SINGLE = (
    "instance_type",
    "volume_gib",
    "keep_awake_until",
    "keep_awake_stop",
    "keep_awake_window_s",
    "stop_at",
    "signup_until",
    "signup_code",
    "signup_spool",
    "signup_seen",
)


@dataclass
class MemoryDesired:
    values: dict[str, str | int] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    pending_gen: int = 0
    repos: dict[str, dict[str, str | None]] = field(default_factory=dict)
    removed_data: set[str] = field(default_factory=set)
    # package key -> {"spec", and when it failed: "error", "at", "only" (from workshop.yaml)}
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # by start: EC2 reports the latest only

    def get(self) -> DesiredState:
        state = DesiredState(pending=set(self.pending), pending_gen=self.pending_gen)
        for name in (*_SINGLE, "stop_why"):
            if name in self.values:
                setattr(state, name, self.values[name])
        state.volume_gib = state.volume_gib or None
        state.data_repos = copy.deepcopy(self.repos)
        state.removed_data = set(self.removed_data)
        for key, package in sorted(self.packages.items()):
            manager = key.split("#", 1)[0]
            if "error" in package:
                state.failed_packages.append(
                    {
                        "manager": manager,
                        "spec": package["spec"],
                        "error": package["error"],
                        "at": package["at"],
                    }
                )
            elif not package.get("only"):
                state.packages.setdefault(manager, []).append(package["spec"])
        return state

    def set(self, **values: str | int) -> None:
        self.values.update(values)

    def unset(self, *names: str) -> None:
        for name in names:
            self.values.pop(name, None)

    def defer(self, *what: str) -> None:
        self.pending.update(what)
        self.pending_gen += 1

    def settle(self, generation: int) -> bool:
        if self.pending_gen not in (0, generation):
            return False
        self.pending.clear()
        return True

    def record_volume_change(self, modification: dict[str, Any]) -> None:
        # DynamoDB's TTL removes a change two days on, at its own pace: readers never rely on it.
        self.changes[str(modification["started_at"])] = dict(modification)

    def volume_changes(self) -> list[dict[str, Any]]:
        return [dict(self.changes[start]) for start in sorted(self.changes)]

    def put_data_repo(self, name: str, repo: str, ref: str | None) -> None:
        self.repos[name] = {"repo": repo, "ref": ref}
        self.removed_data.discard(name)

    def remove_data_repo(self, name: str) -> None:
        self.repos.pop(name, None)
        self.removed_data.add(name)

    def put_packages(self, manager: str, specs: list[str]) -> None:
        for spec in specs:
            self.packages[package_key(manager, spec)] = {"spec": spec}

    def mark_package_failed(self, manager: str, spec: str, error: str, at: str, *, asked: bool) -> None:
        failed: dict[str, Any] = {"spec": spec, "error": error[:2000], "at": at}
        if not asked:
            failed["only"] = True
        self.packages[package_key(manager, spec)] = failed

    def forget_package(self, manager: str, spec: str) -> bool:
        key = package_key(manager, spec)
        if key not in self.packages or self.packages[key].get("only"):
            return False
        del self.packages[key]
        return True


KEEP_SECONDS = 24 * 3600


@dataclass
class MemoryIdempotencyKeys:
    clock: Clock = utcnow
    keys: dict[str, tuple[str, str, dt.datetime]] = field(default_factory=dict)

    def lookup(self, key: str) -> tuple[str, str] | None:
        found = self.keys.get(key)
        if found is None or found[2] < self.clock():
            return None
        return found[0], found[1]

    def claim(self, key: str, op_id: str, kind: str) -> bool:
        if self.lookup(key) is not None:
            return False
        self.keys[key] = (op_id, kind, self.clock() + dt.timedelta(seconds=KEEP_SECONDS))
        return True

    def release(self, key: str, op_id: str) -> None:
        if key in self.keys and self.keys[key][0] == op_id:
            del self.keys[key]


@dataclass
class MemoryPasswordHashes:
    clock: Clock = utcnow
    kept: dict[str, tuple[dict[str, str], dt.datetime]] = field(default_factory=dict)

    def put(self, op_id: str, hashes: dict[str, str]) -> None:
        self.kept[op_id] = (dict(hashes), self.clock() + dt.timedelta(seconds=KEEP_SECONDS))

    def get(self, op_id: str) -> dict[str, str] | None:
        found = self.kept.get(op_id)
        if found is None or found[1] < self.clock():
            return None
        return dict(found[0])

    def forget(self, op_id: str) -> None:
        self.kept.pop(op_id, None)


def memory_stores(clock: Clock = utcnow) -> Stores:
    return Stores(
        operations=MemoryOperationLog(),
        lease=MemoryLease(clock),
        roster=MemoryRoster(),
        desired=MemoryDesired(),
        keys=MemoryIdempotencyKeys(clock),
        passwords=MemoryPasswordHashes(clock),
    )

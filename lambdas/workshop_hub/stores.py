"""What the control plane keeps, as the domain sees it: one port per aggregate, and the records they hold.

    operations  every operation's record (GET /operations/{id} shows it)
    lease       the hub's lease and the queue of operations waiting for it (turns.py)
    roster      the hub's users as the instructor wants them, and the one pending roster sync
    desired     what the instructor asked the hub to be, and what waits for the next reconcile
    keys        idempotency keys: a repeated request gets the operation the first one made
    passwords   initial password hashes, kept apart from the operation that sends them

DynamoDB implements them (adapters/dynamodb: one table); tests/support/twins.py in memory, and one
contract test (tests/unit/test_store_contract.py) holds both to the same behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from workshop_hub.operations import Operation


@dataclass(frozen=True)
class Holder:
    """Who holds the hub's lease: an operation that changes the hub."""

    operation_id: str
    kind: str
    since: str


@dataclass
class RosterEntry:
    username: str
    admin: bool
    on_hub: bool
    added_at: str
    removing: bool = False
    source: str | None = None  # what the instructor gave (an e-mail address, a full name), if not the name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "username": self.username,
            "admin": self.admin,
            "on_hub": self.on_hub,
            "added_at": self.added_at,
        }
        if self.source:
            out["source"] = self.source
        return out


def package_key(manager: str, spec: str) -> str:
    # PEP 503 normalized name: "Pandas>=2" and "pandas==2.2" are the same package.
    name = re.match(r"[A-Za-z0-9._-]+", spec)
    normalized = re.sub(r"[-_.]+", "-", (name.group(0) if name else spec)).lower()
    return f"{manager}#{normalized}"


@dataclass
class DesiredState:
    """What the instructor asked the hub to be.

    instance_type     the everyday size asked for through the API (resize --everyday)
    volume_gib        the size asked for by the last grow
    keep_awake_until  ISO time; the night stop leaves the hub up until then
    keep_awake_stop   the one-time stop the night stop moved to keep-awake's end (and its window, in s)
    stop_at, stop_why a one-time stop that is pending (postponed, or moved to keep-awake's end)
    pending           what was recorded while the hub could not take it ("users", "data:NAME",
                      "packages", "filesystem"); cleared only by a reconcile that succeeded
    pending_gen       grows with every addition to ``pending``: a reconcile clears only what it saw
    signup_until      the walk-in sign-up door's closing time (ISO) while it is open, or closed and its
                      walk-ins not all in the roster yet; signup_code its workshop code (the instance
                      keeps only a hash of it)
    signup_spool, signup_seen  the door's spool on the hub, and how many walk-ins of it the roster has
    """

    instance_type: str | None = None
    volume_gib: int | None = None
    keep_awake_until: str | None = None
    keep_awake_stop: str | None = None
    keep_awake_window_s: int = 0
    stop_at: str | None = None
    stop_why: str | None = None
    pending: set[str] = field(default_factory=set)
    pending_gen: int = 0
    signup_until: str | None = None
    signup_code: str | None = None
    signup_spool: str | None = None
    signup_seen: int = 0
    data_repos: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # Data repos removed (DELETE /data/NAME): workshop.yaml's too; every reconcile removes them again.
    removed_data: set[str] = field(default_factory=set)
    packages: dict[str, list[str]] = field(default_factory=dict)
    # Specs that could not be installed: never tried again until asked for again (never block the rest).
    failed_packages: list[dict[str, str]] = field(default_factory=list)


class OperationLog(Protocol):
    def save(self, op: Operation) -> None: ...

    def get(self, op_id: str) -> Operation | None: ...

    def discard(self, op_id: str) -> None:
        """Forget a record that never became an operation (a roster request that joined another's sync),
        only while it is still queued."""
        ...

    def recent(self, limit: int = 20) -> list[Operation]:
        """The latest operations, newest first."""
        ...

    def unfinished(self) -> list[Operation]:
        """Every operation not ended yet (queued or running), oldest first: what a restart must settle."""
        ...


class Lease(Protocol):
    """At most one operation that changes the hub holds the lease; the others wait in the queue in the
    order they were asked for (their ids sort by creation time). Only the holder can release it."""

    def holder(self) -> Holder | None: ...

    def take(self, op_id: str, kind: str) -> bool:
        """Take the lease if it is free (or already ``op_id``'s); False when another holds it."""
        ...

    def release(self, op_id: str) -> bool:
        """Free the lease if ``op_id`` holds it; False when it does not (nothing changes)."""
        ...

    def enqueue(self, op_id: str, kind: str) -> None: ...

    def queue(self) -> list[tuple[str, str]]:
        """(operation id, kind) of every waiting operation, oldest first."""
        ...

    def dequeue(self, op_id: str) -> None: ...

    def wait_here(self, op_id: str, callback_id: str) -> bool:
        """Record, beside ``op_id``'s place in the queue, the durable callback it now waits on (the
        operation that releases the hub completes it); False when ``op_id`` has no place (dropped)."""
        ...

    def callback(self, op_id: str) -> str | None:
        """The callback ``op_id`` last recorded beside its place in the queue, if any."""
        ...


class Roster(Protocol):
    """The roster, and the roster sync's marker: a generation every change increments, and the sync
    that runs now. A sync may finish only while the generation is the one its last round saw, so a user
    added during a sync is never missed."""

    def entries(self, *, include_removing: bool = False) -> list[RosterEntry]: ...

    def find(self, names: list[str]) -> dict[str, RosterEntry]:
        """The entries of ``names`` that exist (removing ones too), by name."""
        ...

    def put(self, entries: list[RosterEntry]) -> None: ...

    def delete(self, username: str) -> None: ...

    def mark_on_hub(self, names: set[str]) -> None: ...

    def request_sync(self, candidate_op_id: str) -> tuple[str, bool]:
        """Note a roster change and make sure one sync is pending: (the sync's operation id, True when
        that is ``candidate_op_id``, a sync the caller must now start)."""
        ...

    def sync_state(self) -> tuple[str | None, int]:
        """(the pending sync's operation id, the roster's generation)."""
        ...

    def finish_sync(self, op_id: str, generation: int) -> bool:
        """The sync ends, unless the roster changed since ``generation`` (then: another round)."""
        ...

    def abandon_sync(self, op_id: str) -> None:
        """The sync ended without finishing (failed, or deferred): the next change starts one."""
        ...


class Desired(Protocol):
    def get(self) -> DesiredState: ...

    def set(self, **values: str | int) -> None: ...

    def unset(self, *names: str) -> None: ...

    def defer(self, *what: str) -> None:
        """Record that ``what`` waits for the next reconcile."""
        ...

    def settle(self, generation: int) -> bool:
        """A reconcile that saw ``generation`` succeeded: nothing is pending, unless more was deferred since."""
        ...

    def record_volume_change(self, modification: dict[str, Any]) -> None:
        """A grow's modification, kept two days: EC2 reports only the latest one."""
        ...

    def volume_changes(self) -> list[dict[str, Any]]: ...

    def put_data_repo(self, name: str, repo: str, ref: str | None) -> None:
        """Add or change a data repo (one removed before comes back)."""
        ...

    def remove_data_repo(self, name: str) -> None:
        """Forget a data repo, workshop.yaml's too: it is removed from the hub and never synced again
        until asked for again (put_data_repo)."""
        ...

    def put_packages(self, manager: str, specs: list[str]) -> None: ...

    def mark_package_failed(self, manager: str, spec: str, error: str, at: str, *, asked: bool) -> None:
        """``spec`` could not be installed: remembered with why, left out of every later install.
        ``asked``: it was asked for through the API (forgetting it removes it); otherwise it comes from
        workshop.yaml and the mark alone keeps it out."""
        ...

    def forget_package(self, manager: str, spec: str) -> bool:
        """Forget a package asked for through the API; False when there was none of that name (a
        workshop.yaml spec that failed is not the API's to forget)."""
        ...


class IdempotencyKeys(Protocol):
    """A key names the operation its first request made, for 24 hours; a request that fails releases it."""

    def lookup(self, key: str) -> tuple[str, str] | None:
        """(operation id, kind) recorded for ``key``, if any."""
        ...

    def claim(self, key: str, op_id: str, kind: str) -> bool: ...

    def release(self, key: str, op_id: str) -> None: ...


class PasswordHashes(Protocol):
    """Initial password hashes under their operation's id, for a day at most."""

    def put(self, op_id: str, hashes: dict[str, str]) -> None: ...

    def get(self, op_id: str) -> dict[str, str] | None:
        """The hashes of ``op_id``; None when they are gone (used, or older than a day)."""
        ...

    def forget(self, op_id: str) -> None: ...


@dataclass(frozen=True)
class Stores:
    operations: OperationLog
    lease: Lease
    roster: Roster
    desired: Desired
    keys: IdempotencyKeys
    passwords: PasswordHashes

"""The control plane's errors, each one a distinct answer for the API and hubctl.

InvalidRequest -> 400/422 (nothing recorded), Missing -> 404 (it names something that is not there),
Refused -> 409 with the time the request becomes possible (EBS would refuse a volume change now),
Conflict -> 409 (an Idempotency-Key claimed by a request that left no operation), Unavailable -> 503
(Lambda would not start the operation's execution now: try again). Operations never conflict with each
other: they wait their turn (turns.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from hubagent.rules import shown


class InvalidRequest(ValueError):
    """A request parameter broke a rule; ``field`` and ``rule`` say which and why, ``more`` names the
    request's other problems (the API lists them all)."""

    def __init__(
        self, field: str, rule: str, value: object = None, *, more: Sequence[InvalidRequest] = ()
    ) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        self.more = list(more)
        super().__init__(f"{field}: {shown(value)} {rule}" if value is not None else f"{field}: {rule}")

    @property
    def problems(self) -> list[InvalidRequest]:
        return [self, *self.more]


class Missing(InvalidRequest):
    """The request names something that is not there (a user not on the roster): 404 at the API."""


class Conflict(RuntimeError):
    """A request that cannot be taken now because of another one; ``operation_id`` names it."""

    def __init__(self, operation_id: str, kind: str = "") -> None:
        self.operation_id = operation_id
        self.kind = kind
        what = f"{kind} operation" if kind else "operation"
        super().__init__(f"{what} {operation_id} is in progress; wait for it to finish, then try again")


class Refused(RuntimeError):
    """The request is valid but cannot be done now; ``possible_at`` is when it can (UTC), if known."""

    def __init__(self, reason: str, possible_at: dt.datetime | None = None) -> None:
        self.reason = reason
        self.possible_at = possible_at
        super().__init__(reason)


class Unavailable(RuntimeError):
    """The control plane cannot take the request now (Lambda kept answering "another operation is in
    progress"); nothing runs for it and a retry is a new request. ``operation_id`` names the operation
    recorded as failed for it."""

    def __init__(self, reason: str, operation_id: str | None = None) -> None:
        self.reason = reason
        self.operation_id = operation_id
        super().__init__(reason)


class OperationFailed(RuntimeError):
    """An operation's work failed in a way the control plane understood (the message is for a person)."""


class InsufficientCapacity(RuntimeError):
    """EC2 has no capacity for the instance type in the hub's availability zone right now."""


class HubUnhealthy(RuntimeError):
    """hubagent health did not report a healthy hub in time."""


class TypeUnsupported(RuntimeError):
    """EC2 does not offer the instance type in the hub's zone, or refused the type change (Unsupported)."""


class NeverRunning(RuntimeError):
    """StartInstances was accepted but the instance did not reach running in time."""


class VolumeChangeRefused(Refused):
    """EBS will not take (or refused) a change of the volume now: the previous change is not completed, or
    four changes in a rolling 24 hours. ``reason`` is EC2's (or the pre-check's) sentence; ``possible_at``
    when known. A Refused: 409 at the API, a failed step in a workflow."""

"""The seams between the control plane and what it drives, each a Protocol the domain talks through:

* ``HubMachine``: the hub's EC2 instance and its root EBS volume (adapters/ec2.py);
* ``InstanceCommands``: one hubagent action on the instance, its JSON result (adapters/ssm_commands.py on
  AWS, adapters/local_commands.py in the sandbox);
* ``Schedules``: the one-time schedules the control plane creates at run time (adapters/scheduler.py);
* ``Executions``: the worker's durable executions, one per operation (adapters/executions.py on AWS,
  adapters/local_executions.py in the tests and the sandbox).

The control plane's own state has its ports in stores.py. The handlers wire the adapters in
(handlers/plane.py); tests/support/twins.py has in-memory twins for the domain's unit tests.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hubagent import actions

from workshop_hub.ec2_rules import VolumeModification

# hubagent's actions: one SSM document (agent/hubagent/documents.py) and one subcommand each.
ACTIONS = actions.ACTIONS

# SSM Run Command keeps the first 24,000 characters of a command's stdout (StandardOutputContent).
SSM_STDOUT_LIMIT = 24_000
# users-list pages: far more than any hub needs (a page holds 600-5,000 names).
MAX_USER_PAGES = 50


def last_json_line(output: str) -> dict[str, Any] | None:
    """hubagent's result: the last line of its output that is a JSON object (None when there is none)."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                return None
            return parsed if isinstance(parsed, dict) else None
    return None


class AgentError(Exception):
    """hubagent could not run or reported a failure; ``result`` holds what it printed, if anything."""

    def __init__(self, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = dict(result or {})


class AgentOffline(AgentError):
    """The instance's agent cannot take commands (instance stopped, SSM agent not registered)."""


class AgentTimeout(AgentError):
    """The command did not finish in its time."""


class AgentFailed(AgentError):
    """hubagent ran and reported ``ok: false`` (or exited non-zero)."""


class CommandLost(AgentFailed):
    """The command's result can never be known: what ran it restarted meanwhile (the sandbox's local
    runner; SSM keeps every result). hubagent's actions are idempotent: it may be sent again."""


@dataclass(frozen=True)
class InstanceView:
    state: str
    instance_type: str
    public_ip: str | None
    root_volume_id: str | None
    availability_zone: str | None = None


@dataclass(frozen=True)
class VolumeView:
    volume_id: str
    size_gib: int
    last_modified: dt.datetime | None  # start of the latest modification
    modification_state: str | None


class HubMachine(Protocol):
    """The hub's EC2 instance and its root volume. EC2's refusals arrive as the control plane's errors:
    InsufficientCapacity, TypeUnsupported, OperationFailed, VolumeChangeRefused (errors.py)."""

    instance_id: str

    def describe(self) -> InstanceView: ...

    def start(self) -> None:
        """StartInstances; raises InsufficientCapacity or TypeUnsupported (not offered in its zone)."""
        ...

    def stop(self) -> None: ...

    def set_instance_type(self, instance_type: str) -> None:
        """Only while stopped, within one architecture: else TypeUnsupported or OperationFailed."""
        ...

    def offered_in_zone(self, instance_type: str) -> bool: ...

    def volume(self) -> VolumeView: ...

    def volume_modifications(self) -> list[VolumeModification]:
        """What EC2 reports of the root volume's modifications, newest first."""
        ...

    def snapshot(self, description: str, tags: dict[str, str]) -> str:
        """A snapshot of the root volume; its id."""
        ...

    def modify_volume(self, size_gib: int) -> dict[str, Any] | None:
        """Ask EBS for ``size_gib``; the modification started (``VolumeModification.to_json``), if EC2
        reports one. Raises VolumeChangeRefused."""
        ...


class Schedules(Protocol):
    """One-time schedules in the hub's schedule group: each invokes the schedule function once."""

    def create(self, name: str, at: dt.datetime, timezone: str, payload: dict[str, Any]) -> str:
        """A schedule firing once at ``at`` (wall-clock time in ``timezone``), gone after it ran."""
        ...

    def delete(self, name: str) -> None:
        """Delete ``name``; one that is gone already is no error."""
        ...


class InstanceCommands(Protocol):
    """hubagent's actions on the instance, in two halves, so that no command is bounded by one Lambda
    invocation: ``send`` it (one step), then ask for its ``result`` between durable waits (Run.command).
    A command's time limit is its action's (``command_timeout``): the SSM document's timeoutSeconds and
    SendCommand's TimeoutSeconds, after which SSM ends it."""

    def send(self, action: str, params: Mapping[str, str]) -> str:
        """Send ``action`` with ``params`` (the SSM document's parameter names); the command's id.
        Raises AgentOffline (the instance's agent cannot take commands) or AgentFailed."""
        ...

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        """None while the command runs; its JSON result once it succeeded. Raises AgentOffline (never
        delivered), AgentTimeout (SSM ended it at its time limit) or AgentFailed."""
        ...

    def give_up(self, command_id: str, action: str, waited_s: int) -> AgentError:
        """The command outlived every limit: cancel it; the error to report (AgentOffline when it was
        never delivered, else AgentTimeout)."""
        ...


def command_timeout(action: str) -> int:
    """How long ``action`` may run on the instance (its SSM document's timeoutSeconds)."""
    return actions.TIMEOUT_SECONDS[action]


def run_now(
    commands: InstanceCommands,
    action: str,
    params: Mapping[str, str],
    wait_s: float,
    *,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Send ``action`` and wait for it HERE, at most ``wait_s`` seconds (then give up on it): only for a
    short look where no durable wait is possible (health for GET /status and inside a durable probe;
    signup-list's pages for GET /users and inside the step that reads the walk-ins)."""
    command_id = commands.send(action, params)
    deadline = clock() + wait_s
    while True:
        result = commands.result(command_id, action)
        if result is not None:
            return result
        if clock() >= deadline:
            raise commands.give_up(command_id, action, int(wait_s))
        sleep(poll_s)


class Executions(Protocol):
    """The worker's durable executions, one per operation, named by the operation's id."""

    def start(self, operation_id: str) -> None:
        """Start the operation's execution, at most once per id (Lambda async invoke with
        DurableExecutionName on AWS; the SDK's local runner in tests and the sandbox)."""
        ...

    def status(self, operation_id: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED (or PAUSED...); None when there is none."""
        ...

    def notify(self, callback_id: str) -> bool:
        """Complete a waiting execution's durable callback (SendDurableExecutionCallbackSuccess): it
        resumes at once. False when the callback is closed already (completed, or timed out)."""
        ...


def hub_users(page_after: Callable[[str], Mapping[str, Any]]) -> dict[str, bool]:
    """Every user on the hub, name -> admin, read through users-list a page at a time (each result
    fits SSM's output limit; ``next`` names where the following page starts). ``page_after(after)``
    runs users-list with ``{"After": after}``."""
    users: dict[str, bool] = {}
    after = ""
    for _ in range(MAX_USER_PAGES):
        page = page_after(after)
        names = [str(name) for name in page.get("names", [])]
        admins = {str(name) for name in page.get("admins", [])}
        users.update((name, name in admins) for name in names)
        following = page.get("next")
        if not following:
            return users
        if not names or str(following) <= after:
            raise AgentFailed(f"users-list did not move past {after!r} (next: {following!r})", page)
        after = str(following)
    raise AgentFailed(f"users-list gave more than {MAX_USER_PAGES} pages; stopped at {after!r}")


def active_count(result: Mapping[str, Any]) -> int:
    """How many users the activity result counts as active: ``active_count`` (exact even when the names
    were cut to fit SSM's output), else the names given (an older agent)."""
    count = result.get("active_count")
    return int(count) if isinstance(count, int) else len(result.get("active_users") or [])

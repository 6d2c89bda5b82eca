"""The seam between the control plane and the hub instance.

``InstanceCommands`` runs one hubagent action on the instance and returns hubagent's JSON result.
Two adapters implement it: SSM Run Command on AWS (adapters/ssm_commands.py) and a local runner in
the sandbox that executes hubagent with the sandbox's paths (adapters/local_commands.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from hubagent import actions

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


class InstanceCommands(Protocol):
    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        """Run ``action`` with ``params`` (the SSM document's parameter names) and return the JSON
        result. Raises AgentOffline, AgentTimeout or AgentFailed."""
        ...


class Executions(Protocol):
    """The worker's durable executions, one per operation, named by the operation's id."""

    def start(self, operation_id: str) -> None:
        """Start the operation's execution, at most once per id (Lambda async invoke with
        DurableExecutionName on AWS; the SDK's local runner in tests and the sandbox)."""
        ...

    def status(self, operation_id: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED (or PAUSED...); None when there is none."""
        ...


def hub_users(commands: InstanceCommands, timeout_s: int = 120) -> dict[str, bool]:
    """Every user on the hub, name -> admin, read through users-list a page at a time (each result
    fits SSM's output limit; ``next`` names where the following page starts)."""
    users: dict[str, bool] = {}
    after = ""
    for _ in range(MAX_USER_PAGES):
        page = commands.run("users-list", {"After": after}, timeout_s)
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

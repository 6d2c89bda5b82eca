"""The two ways an action ends badly, each with its exit code."""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    """An action could not be done; ``str()`` is the message a person reads and acts on.

    ``details`` are fields the result line carries beside ``error`` (e.g. which packages failed)."""

    exit_code = 1

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class InputError(AgentError):
    """A value broke a rule before anything ran."""

    exit_code = 2


class ActionFailed(AgentError):
    """The action ran and failed (hub, git, pip or the disk tools said no)."""

    exit_code = 1

"""The two ways an action ends badly, each with its exit code."""

from __future__ import annotations


class AgentError(Exception):
    """An action could not be done; ``str()`` is the message a person reads and acts on."""

    exit_code = 1


class InputError(AgentError):
    """A value broke a rule before anything ran."""

    exit_code = 2


class ActionFailed(AgentError):
    """The action ran and failed (hub, git, pip or the disk tools said no)."""

    exit_code = 1

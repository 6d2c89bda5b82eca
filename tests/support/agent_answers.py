"""hubagent's compact results, for the fakes that stand in for it (fake_hub.FakeHub, moto_hub's
RecordingCommands): the same shapes as agent/hubagent/users.py prints (see agent/README.md); and
``AtOnce``, the InstanceCommands halves over a fake that answers at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workshop_hub.ports import AgentError, AgentTimeout


def users_list(users: Mapping[str, bool], after: str = "", page_size: int = 1000) -> dict[str, Any]:
    """users-list: ``page_size`` names after ``after``, sorted, with the admins among them and ``next``."""
    names = sorted(users)
    rest = [n for n in names if n > after] if after else names
    page = rest[:page_size]
    return {
        "changed": False,
        "count": len(names),
        "names": page,
        "admins": [n for n in page if users[n]],
        "next": page[-1] if len(rest) > len(page) else None,
    }


def activity(minutes: int, active: list[str], running: int | None = None, users: int = 0) -> dict[str, Any]:
    """activity: the counts and the active names (all of them: a fake has no output limit)."""
    return {
        "changed": False,
        "minutes": minutes,
        "active_count": len(active),
        "active_users": list(active),
        "active_users_complete": True,
        "running_count": len(active) if running is None else running,
        "user_count": max(users, len(active)),
        "last_activity": None,
    }


class AtOnce:
    """InstanceCommands over a ``run(action, params, timeout_s)`` that answers at once: ``send`` runs it
    and keeps the answer (or its AgentError), ``result`` gives it."""

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, action: str, params: Mapping[str, str]) -> str:
        answers = self.__dict__.setdefault("_answers", {})
        command_id = f"cmd-{len(answers) + 1:06d}"
        try:
            answers[command_id] = self.run(action, params, 600)
        except AgentError as err:
            answers[command_id] = err
        return command_id

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        answer = self.__dict__["_answers"][command_id]
        if isinstance(answer, AgentError):
            raise answer
        return dict(answer)

    def give_up(self, command_id: str, action: str, waited_s: int) -> AgentError:
        return AgentTimeout(f"{action} did not finish within {waited_s} s (command {command_id} cancelled)")

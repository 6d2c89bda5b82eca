"""The sandbox's InstanceCommands (adapters/local_commands.py) in the worker's two halves: a command runs in
the background as on the instance, ``result`` looks at it, ``give_up`` ends it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from workshop_hub.adapters.local_commands import LocalCommands
from workshop_hub.ports import AgentOffline, AgentTimeout, CommandLost

AGENT = """\
import json, os, sys, time
time.sleep(float(os.environ.get("FAKE_AGENT_SECONDS", "0")))
print(json.dumps({"ok": True, "action": sys.argv[1], "changed": False, "pid": os.getpid()}))
"""


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "__main__.py").write_text(AGENT)
    return folder


def commands(agent: Path, seconds: float, state: str = "running") -> LocalCommands:
    return LocalCommands(
        agent=agent,
        environ={"PATH": os.environ["PATH"], "FAKE_AGENT_SECONDS": str(seconds)},
        instance_state=lambda: state,
    )


def test_a_command_runs_in_the_background_and_its_result_is_read_when_it_ends(agent: Path) -> None:
    local = commands(agent, 0.5)
    began = time.monotonic()
    command_id = local.send("health", {})
    assert time.monotonic() - began < 0.4  # send does not wait for it
    assert local.result(command_id, "health") is None
    deadline = time.monotonic() + 10
    while (answer := local.result(command_id, "health")) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert answer["ok"] is True and answer["action"] == "health"
    assert local.result(command_id, "health") == answer  # asked again (a replay): the same answer


def test_giving_up_ends_the_command(agent: Path) -> None:
    local = commands(agent, 30)
    command_id = local.send("health", {})
    error = local.give_up(command_id, "health", 60)
    assert isinstance(error, AgentTimeout) and "did not finish within 60 s" in str(error)
    with pytest.raises(CommandLost, match="its result is lost"):
        local.result(command_id, "health")


def test_a_command_the_sandbox_lost_in_a_restart_fails_saying_so(agent: Path) -> None:
    with pytest.raises(CommandLost, match="the sandbox restarted while it ran"):
        commands(agent, 0).result("0b9f6a2e-0000-0000-0000-000000000000", "data-sync")


def test_a_stopped_instance_takes_no_command(agent: Path) -> None:
    with pytest.raises(AgentOffline, match="is stopped"):
        commands(agent, 0, state="stopped").send("health", {})

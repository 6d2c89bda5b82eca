"""`make test-future`'s moved date (tests/support/clock_shift.py): the offset it reads, the clocks it moves and
leaves, and, in that run, that this process and what the sandbox starts really are ahead."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import prepare
from sandbox.layout import Layout
from sandbox.wiring import agent_environ

SHIFT = Path(__file__).resolve().parents[1] / "support" / "clock_shift.py"
clock_shift = runpy.run_path(str(SHIFT))
YEAR = 365.25 * 86400
STATE = {"hub_api_url": "http://127.0.0.1:1/hub/api", "hub_url": "https://127.0.0.1:1", "ports": {"proxy": 2}}

PROBE = """
import datetime as dt, json, runpy, sys, time
if len(sys.argv) > 1:
    runpy.run_path(sys.argv[1])["start"](sys.argv[2])
if len(sys.argv) > 3:
    time.sleep(float(sys.argv[3]))  # busy elsewhere (imports) before its first reading of the clock
print(json.dumps({"time": time.time(), "now": dt.datetime.now(dt.UTC).timestamp(), "monotonic": time.monotonic()}))
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("+5y", 5 * YEAR), ("+30y", 30 * YEAR), ("+400d", 400 * 86400.0), ("+36h", 36 * 3600.0)],
)
def test_the_offset_is_read_from_its_text_alone(text: str, seconds: float) -> None:
    assert clock_shift["offset_seconds"](text) == seconds


@pytest.mark.parametrize("text", ["5y", "+5", "+5w", "-5y", "+y", "+5y ago"])
def test_an_offset_it_cannot_read_names_the_variable_and_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match=r"WORKSHOP_HUB_FUTURE=.*expected \+N followed by y, d or h"):
        clock_shift["offset_seconds"](text)


def probe(*args: str, python: str = sys.executable) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "WORKSHOP_HUB_FUTURE"}
    run = subprocess.run([python, "-c", PROBE, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def real_time() -> float:
    from time_machine import escape_hatch

    return escape_hatch.time.time() if escape_hatch.is_travelling() else time.time()


def test_the_wall_clock_moves_ahead_and_ticks_while_the_monotonic_clock_stays() -> None:
    before = real_time()
    plain, moved = probe(), probe(str(SHIFT), "+5y")
    after = real_time()

    for seen in ("time", "now"):
        assert before - 1 <= plain[seen] <= after + 1
        assert before + 5 * YEAR - 1 <= moved[seen] <= after + 5 * YEAR + 1
    # the monotonic clock is the machine's: both processes read it within the same few seconds
    assert abs(moved["monotonic"] - plain["monotonic"]) < 60


def test_a_process_slow_to_read_the_clock_is_not_behind_the_others() -> None:
    """time-machine's ticking clock starts at its first reading: start() reads it at once."""
    slow = probe(str(SHIFT), "+5y", "2")
    prompt = probe(str(SHIFT), "+5y")
    assert abs(prompt["time"] - slow["time"]) < 1.5


def test_this_run_sees_the_date_it_was_given() -> None:
    """In `make test-future` (WORKSHOP_HUB_FUTURE set), the .pth has moved this process; in `make test`, nothing has."""
    from time_machine import escape_hatch

    given = os.environ.get("WORKSHOP_HUB_FUTURE")
    if not given:
        assert not escape_hatch.is_travelling()
        return
    assert escape_hatch.is_travelling()
    ahead = time.time() - escape_hatch.time.time()
    assert abs(ahead - clock_shift["offset_seconds"](given)) < 60


def test_the_sandbox_passes_the_moved_date_to_the_servers_and_hubagent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path)
    monkeypatch.delenv("WORKSHOP_HUB_FUTURE", raising=False)
    assert "WORKSHOP_HUB_FUTURE" not in prepare.spawn_environment(layout)
    agent_python = prepare.agent_dir(layout) / "bin" / "python3"
    assert agent_python.is_symlink()  # the base interpreter: the standard library only, as on the instance

    assert "WORKSHOP_HUB_FUTURE" not in agent_environ(layout, STATE)

    monkeypatch.setenv("WORKSHOP_HUB_FUTURE", "+5y")
    assert prepare.spawn_environment(layout)["WORKSHOP_HUB_FUTURE"] == "+5y"
    assert agent_environ(layout, STATE)["WORKSHOP_HUB_FUTURE"] == "+5y"
    agent_python = prepare.agent_dir(layout) / "bin" / "python3"
    assert not agent_python.is_symlink()
    # the venv's interpreter, whose start-up (the .pth of make test-future) moves the clock
    seen = probe(str(SHIFT), "+5y", python=str(agent_python))
    assert seen["time"] > real_time() + 5 * YEAR - 60

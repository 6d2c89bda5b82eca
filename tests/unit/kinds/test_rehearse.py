"""The rehearsal on the in-memory twins: its commands in order, a notebook over several commands, a
notebook hubagent could not run, the participant removed on every path, and what it refuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hubagent import rules
from workshop_hub.errors import InvalidRequest
from workshop_hub.kinds.rehearse import participant_of

from tests.support.hub_world import CONFIG
from tests.support.twin_world import twin_world

NOTEBOOKS = "https://git.example.org/course/trees"
WORKSHOP = {**CONFIG, "notebooks": {"repo": NOTEBOOKS, "branch": "main"}}


def part(
    ran: int, failed: int = 0, *, peak: int = 100, next_cell: int | None = None, **more: Any
) -> dict[str, Any]:
    failures = [
        {"cell": 2 + i, "category": "missing-file", "error": "FileNotFoundError: x", "hint": "nearest: y"}
        for i in range(failed)
    ]
    return {
        "ran": ran,
        "failed": failed,
        "outcomes": "." * (ran - failed) + "F" * failed,
        "failures": failures,
        "peak_bytes": peak,
        "baseline_bytes": 50,
        "code_seconds": 1.0,
        "cpu_seconds": 0.5,
        "import_seconds": 0.25,
        "import_cpu_seconds": 0.25,
        "cells": ran + 1,
        "code_cells": ran,
        "empty_cells": 0,
        "next_cell": next_cell,
        **more,
    }


def commands(world: Any) -> list[tuple[str, dict[str, str]]]:
    return [(a, p) for a, p in world.hub.calls if a.startswith("rehearse-")]


def test_a_rehearsal_walks_every_notebook_and_removes_its_participant() -> None:
    with twin_world(WORKSHOP) as world:
        world.hub.users = {"ada": False, "instructor": True}
        world.hub.material = [
            {"name": "01-intro.ipynb", "parts": {0: part(3)}},
            {"name": "completed/02-data.ipynb", "parts": {0: part(4, 2)}},
        ]
        op = world.submit("rehearse", {"cell_timeout": 60})
        assert op.state == "succeeded", op.error
        participant = op.result["participant"]
        assert participant == participant_of(op.id)
        assert rules.REHEARSAL_USER.regex.fullmatch(participant)
        sent = commands(world)
        assert [a for a, _ in sent] == [
            "rehearse-begin",
            "rehearse-notebook",
            "rehearse-notebook",
            "rehearse-end",
        ]
        assert sent[0][1] == {
            "Participant": participant,
            "Repo": NOTEBOOKS,
            "Branch": "main",
        }
        assert [p["Index"] for a, p in sent if a == "rehearse-notebook"] == ["0", "1"]
        assert {p["CellTimeout"] for a, p in sent if a == "rehearse-notebook"} == {"60"}
        # the real participants are untouched; the throwaway one is gone
        assert world.hub.users == {"ada": False, "instructor": True}
        assert op.result["removed"] == {"done": True, "names": [participant]}
        assert op.result["totals"] == {
            "notebooks": 2,
            "failed_notebooks": 1,
            "cells_ran": 7,
            "cells_failed": 2,
            "code_cells": 7,
        }
        second = op.result["notebooks"][1]
        assert second["name"] == "completed/02-data.ipynb" and len(second["failures"]) == 2
        steps = world.steps(op)
        assert steps[0] == f"{participant} logs in and follows the link"
        assert "notebook 2 of 2: completed/02-data.ipynb" in steps
        assert steps[-1].startswith(f"remove {participant}")


def test_a_notebook_whose_cells_outlast_one_command_goes_on_where_it_stopped() -> None:
    with twin_world(WORKSHOP) as world:
        world.hub.material = [
            {"name": "long.ipynb", "parts": {0: part(3, 1, peak=300, next_cell=7), 7: part(2, 1, peak=200)}}
        ]
        op = world.submit("rehearse", {})
        assert op.state == "succeeded", op.error
        sent = [p for a, p in commands(world) if a == "rehearse-notebook"]
        assert [p["FromCell"] for p in sent] == ["0", "7"]
        (notebook,) = op.result["notebooks"]
        assert (notebook["ran"], notebook["failed"], notebook["peak_bytes"]) == (5, 2, 300)
        assert notebook["outcomes"] == "..F.F"
        assert notebook["code_seconds"] == 2.0 and notebook["import_seconds"] == 0.5
        assert "notebook 1 of 1: long.ipynb (from cell 7, part 2)" in world.steps(op)


def test_a_notebook_hubagent_cannot_run_is_reported_and_the_rest_go_on() -> None:
    with twin_world(WORKSHOP) as world:
        world.hub.material = [
            {"name": "a.ipynb", "parts": {0: {"error": "fail"}}},
            {"name": "b.ipynb", "parts": {0: part(2)}},
        ]
        op = world.submit("rehearse", {})
        assert op.state == "succeeded", op.error
        first, second = op.result["notebooks"]
        assert first["error"].startswith("the kernel did not answer") and first["ran"] == 0
        assert second["ran"] == 2
        assert op.result["totals"]["failed_notebooks"] == 1
        assert not [n for n in world.hub.users if n.startswith(rules.REHEARSAL_PREFIX)]


def test_the_participant_is_removed_when_the_rehearsal_fails_and_the_next_one_cleans_up() -> None:
    with twin_world(WORKSHOP) as world:
        world.hub.material = [{"name": "a.ipynb", "parts": {0: part(1)}}]
        world.hub.hang.add("rehearse-notebook")
        world.hub.fail["rehearse-end"] = "the hub did not answer"
        op = world.submit("rehearse", {})
        assert op.state == "succeeded"
        assert op.result["removed"] == {"done": False, "error": "the hub did not answer"}
        # asked once, after the hung notebook was given up: never while a durable wait suspended the rehearsal
        actions = [action for action, _ in world.hub.calls]
        assert actions.count("rehearse-end") == 1 and actions[-1] == "rehearse-end", actions
        left = [n for n in world.hub.users if n.startswith(rules.REHEARSAL_PREFIX)]
        assert left == [op.result["participant"]]
        world.hub.hang.clear()
        del world.hub.fail["rehearse-end"]
        again = world.submit("rehearse", {})
        assert again.result["removed_before"] == left
        assert not [n for n in world.hub.users if n.startswith(rules.REHEARSAL_PREFIX)]


def test_a_stopped_hub_is_not_rehearsed() -> None:
    with twin_world(WORKSHOP) as world:
        world.machine.state = "stopped"
        op = world.submit("rehearse", {})
        assert op.state == "failed"
        assert re.search(r"the hub is stopped: a rehearsal runs on the running hub", op.error or "")
        assert commands(world) == []


def test_what_a_rehearsal_refuses_before_anything_runs() -> None:
    with twin_world(WORKSHOP) as world:
        with pytest.raises(
            InvalidRequest, match="cell_timeout: 421 must be a whole number of seconds from 1 to 420"
        ):
            world.submit("rehearse", {"cell_timeout": 421})
        with pytest.raises(
            InvalidRequest, match=re.escape("repo: 'git@github.com:a/b' is not an allowed git URL")
        ):
            world.submit("rehearse", {"repo": "git@github.com:a/b"})
    with twin_world(CONFIG) as world:
        with pytest.raises(
            InvalidRequest, match=re.escape("repo: is required: workshop.yaml has no notebooks repo")
        ):
            world.submit("rehearse", {})
        # another repo than workshop.yaml's, given
        world.hub.material = []
        op = world.submit("rehearse", {"repo": "https://git.example.org/other", "branch": "v2"})
        assert op.state == "succeeded" and op.params["branch"] == "v2"


def test_the_rehearsals_prefix_is_never_a_real_participants() -> None:
    with twin_world(WORKSHOP) as world:
        with pytest.raises(
            InvalidRequest, match="usernames\\[0\\]: 'rehearsal--abc123' starts with 'rehearsal--'"
        ):
            world.submit("users-add", {"usernames": ["rehearsal--abc123"]})
        assert world.stores.roster.entries() == []


def test_a_roster_that_holds_the_prefix_refuses_the_rehearsal() -> None:
    from workshop_hub.stores import RosterEntry

    with twin_world(WORKSHOP) as world:
        world.stores.roster.put([RosterEntry("rehearsal--zzzzzz", admin=False, on_hub=False, added_at="x")])
        with pytest.raises(InvalidRequest, match="roster: holds rehearsal--zzzzzz"):
            world.submit("rehearse", {})

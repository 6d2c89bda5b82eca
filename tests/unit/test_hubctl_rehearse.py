"""hubctl rehearse and hubctl plan --rehearsal against the API handler served over local HTTP: what is
sent, the report in 80 columns with every notebook's text made printable, the exit code, JSON for
scripts, and a plan sized from what the rehearsal ran (refused when too little of it did)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl import rehearsal
from hubctl.cli import app
from hubctl.plan.rehearsed import measured as as_measured
from tests.support.fake_plane import FakePlane
from tests.support.hubctl_api import served_api, using

WORKSHOP_YAML = "hub: {name: workshop-hub}\nschedule: {timezone: Europe/Berlin}\n"

MIB = 1024**2


def notebook(name: str, ran: int, failed: int, *, peak_mib: int = 200, **more: Any) -> dict[str, Any]:
    failures = [
        {
            "cell": 3,
            "category": "missing-file",
            "error": "FileNotFoundError: [Errno 2] No such file or directory: 'workshopata/x.shp'",
            "hint": "'workshopata/x.shp' does not exist; the nearest existing path is '../workshopdata/x.shp' "
            "(~/workshopdata/x.shp)",
        }
    ][:failed]
    return {
        "name": name,
        "cells": ran + 2,
        "code_cells": ran,
        "empty_cells": 0,
        "ran": ran,
        "failed": failed,
        "worked": ran - failed - 1,
        "import_cells": 1,
        "outcomes": "." * (ran - failed) + "F" * failed,
        "failures": failures,
        "peak_bytes": peak_mib * MIB,
        "baseline_bytes": 60 * MIB,
        "code_seconds": 4.0,
        "cpu_seconds": 1.0,
        "import_seconds": 2.0,
        "import_cpu_seconds": 2.0,
        "written_bytes": MIB,
        **more,
    }


REPORT = {
    "participant": "rehearsal--a1b2c3",
    "repo": "https://github.com/example/course",
    "branch": None,
    "folder": "course",
    "data": ["workshopdata"],
    "data_bytes": 300 * MIB,
    "folder_bytes": 2 * MIB,
    "cell_timeout": 300,
    "removed": {"done": True, "names": ["rehearsal--a1b2c3"]},
    "notebooks": [
        notebook("01-intro.ipynb", 6, 0, peak_mib=300),
        notebook("completed/02-maps.ipynb", 8, 1),
        notebook("03-\x1b[31mevil\x1b[0m.ipynb", 4, 0, kernel_note="the notebook asks for the kernel 'geo'"),
    ],
    "totals": {"notebooks": 3, "failed_notebooks": 1, "cells_ran": 18, "cells_failed": 1, "code_cells": 18},
}


@pytest.fixture
def plane():
    fake = FakePlane()
    fake.results["rehearse"] = json.loads(json.dumps(REPORT))
    with using(fake):
        yield fake


@pytest.fixture
def served(plane, tmp_path, monkeypatch):
    with served_api(tmp_path, monkeypatch, WORKSHOP_YAML) as server:
        yield server


def hubctl(*args: str):
    return CliRunner().invoke(app, list(args))


def test_rehearse_sends_its_request_and_prints_the_report(served, plane) -> None:
    result = hubctl("rehearse", "--repo", "https://github.com/example/course", "--cell-timeout", "120")
    assert result.exit_code == 1, result.output  # a notebook failed
    (op,) = plane.ops.values()
    assert (op.kind, op.params) == (
        "rehearse",
        {"repo": "https://github.com/example/course", "cell_timeout": 120},
    )
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b" not in result.stdout  # a notebook's name cannot drive the terminal
    assert lines[0] == "rehearsed https://github.com/example/course"
    row = next(line for line in lines if line.startswith("completed/02-maps.ipynb"))
    assert row.split()[1:] == ["8/8", "1", "200", "6.0", "s"]
    assert "  cell 3: missing file" in lines
    hint = " ".join(line.strip() for line in lines[lines.index("  cell 3: missing file") + 2 :][:3])
    assert hint.startswith("hint: 'workshopata/x.shp' does not exist; the nearest existing path is")
    assert "note: the notebook asks for the kernel 'geo'" in result.stdout
    assert "1 notebook(s) failed: fix them, then hubctl rehearse again" in result.stdout


def test_rehearse_json_and_exit_zero_when_every_notebook_ran(served, plane) -> None:
    report = plane.results["rehearse"]
    report["notebooks"] = [n for n in report["notebooks"] if not n["failed"]]
    result = hubctl("-o", "json", "rehearse")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["state"] == "succeeded" and printed["operation_id"].startswith("op-")
    assert [n["name"] for n in printed["notebooks"]] == ["01-intro.ipynb", "03-\x1b[31mevil\x1b[0m.ipynb"]


def test_rehearse_refuses_a_bad_value_before_sending(served, plane) -> None:
    result = hubctl("rehearse", "--cell-timeout", "1000")
    assert result.exit_code == 2 and "--cell-timeout: 1000 must be from 1 to 420 seconds" in result.output
    result = hubctl("rehearse", "--repo", "ssh://git@example.org/x")
    assert result.exit_code == 2 and "is not an allowed git URL" in result.output
    assert plane.ops == {}


def test_a_rehearsed_notebook_as_the_plan_counts_it() -> None:
    counted = as_measured(notebook("a.ipynb", 8, 1))
    assert (counted.code_cells, counted.ran, counted.failed, counted.worked, counted.import_cells) == (
        8,
        8,
        1,
        6,
        1,
    )
    assert counted.cpu_share == 0.25  # 1 s of CPU over 4 s of the cells' own work: the imports' 2 s left out
    assert counted.seconds == 6.0 and counted.import_seconds == 2.0
    assert counted.measured and counted.failures[0].category == "missing-file"
    did_not_run = as_measured(
        {"name": "b.ipynb", "index": 1, "error": "the kernel did not answer", "ran": 0, "failed": 0}
    )
    assert did_not_run.not_measured == "it did not run: the kernel did not answer"


def test_plan_from_the_latest_rehearsal(served, plane) -> None:
    assert hubctl("rehearse").exit_code == 1
    result = hubctl("-o", "json", "plan", "-n", "30", "--rehearsal", "latest", "--prices", "table")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["notebooks_source"].startswith("rehearsal op-0001 on the hub, ")
    assert [n["peak_mib"] for n in report["notebooks"]] == [300.0, 200.0, 200.0]
    assert report["memory"]["per_participant_mib"] == 150 + 300
    assert report["measured_count"] == 3
    assert {n["cpu_share"] for n in report["notebooks"]} == {0.25}


def test_plan_refuses_a_rehearsal_where_too_little_ran(served, plane) -> None:
    report = plane.results["rehearse"]
    report["notebooks"][0] |= {"failed": 5, "worked": 0}
    report["notebooks"][1] |= {"failed": 6, "worked": 1}
    hubctl("rehearse")
    result = hubctl("plan", "-n", "30", "--rehearsal", "latest", "--prices", "table")
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "only 1 of 3 notebooks were measured" in said and "--go-ahead" in said
    assert "01-intro.ipynb: not measured: no cell beyond its imports ran without an error" in said
    result = hubctl("plan", "-n", "30", "--rehearsal", "latest", "--prices", "table", "--go-ahead")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Only 1 of 3 notebooks were measured; this plan rests on them alone")


def test_plan_needs_a_rehearsal_that_ran(served, plane) -> None:
    result = hubctl("plan", "-n", "30", "--rehearsal", "latest")
    assert result.exit_code == 4 and "no rehearsal has run on this hub yet" in result.output
    result = hubctl("plan", "-n", "3", "--rehearsal", "latest", "--notebooks", ".")
    assert result.exit_code == 2 and "--rehearsal plans from what ran on the hub" in result.output


def test_report_lines_of_a_notebook_that_did_not_run() -> None:
    lines = rehearsal.report_lines(
        {"repo": "https://x.org/c", "notebooks": [{"name": "n.ipynb", "error": "no kernel", "ran": 0}]}
    )
    assert "n.ipynb" in lines[4] and lines[4].endswith("did not run")

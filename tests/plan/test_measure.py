"""hubctl plan against real kernels: a known allocation is measured, a failing notebook is reported,
and the command's JSON and text come from real runs. (No AWS: prices from the shipped table.)"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from typer.testing import CliRunner
from workshop_hub import config as workshop_config

from hubctl.cli import app
from hubctl.plan.arithmetic import MIB
from hubctl.plan.measure import find_notebooks, run_notebook

EXAMPLES = Path(__file__).resolve().parents[2] / "sandbox" / "notebooks"
ALLOCATE_MIB = 200


def write(folder: Path, name: str, *sources: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [new_markdown_cell(f"# {name}")] + [new_code_cell(s) for s in sources]
    nbformat.write(new_notebook(cells=cells), path)
    return path


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    # bytes filled with 1s: every page is touched (b'\0' * n could stay unmapped zero pages).
    write(folder, "allocate.ipynb", f"blob = b'\\x01' * ({ALLOCATE_MIB} * 1024 * 1024)", "len(blob)")
    write(folder, "sub/broken.ipynb", "x = 1", "y = x + 1", "raise ValueError('the data file is missing')")
    write(folder, ".ipynb_checkpoints/allocate-checkpoint.ipynb", "1 / 0")
    return folder


def test_finds_notebooks_but_not_checkpoints(notebooks: Path) -> None:
    assert [p.relative_to(notebooks).as_posix() for p in find_notebooks(notebooks)] == [
        "allocate.ipynb",
        "sub/broken.ipynb",
    ]


def test_a_known_allocation_is_measured_within_ten_percent(notebooks: Path) -> None:
    measured = run_notebook(notebooks / "allocate.ipynb", notebooks)
    assert measured.ok, measured.error
    grown_mib = (measured.peak_bytes - measured.baseline_bytes) / MIB
    print(f"allocated {ALLOCATE_MIB} MiB, measured {grown_mib:.1f} MiB above the kernel's baseline")
    assert abs(grown_mib - ALLOCATE_MIB) <= 0.1 * ALLOCATE_MIB
    # the kernel itself (baseline) is real memory too: a Python kernel is tens of MiB
    assert 20 * MIB < measured.baseline_bytes < 300 * MIB
    assert measured.seconds > 0
    # run in a copy: the notebooks folder is untouched
    assert not (notebooks / "allocate.ipynb").read_text().count('"outputs": [\n     {')


def test_a_failing_notebook_names_its_cell_and_error(notebooks: Path) -> None:
    measured = run_notebook(notebooks / "sub" / "broken.ipynb", notebooks)
    assert not measured.ok
    assert measured.cell == 4  # the markdown cell is cell 1
    assert measured.error == "ValueError: the data file is missing"


def run_plan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def workshop(tmp_path: Path) -> Path:
    path = tmp_path / "workshop.yaml"
    shutil.copyfile(Path(__file__).resolve().parents[2] / "workshop.yaml", path)
    return path


def test_plan_json_uses_the_notebooks_that_ran(notebooks: Path, workshop: Path) -> None:
    code, out, err = run_plan(
        "--config", str(workshop), "-o", "json", "plan", "-n", "30", "--notebooks", str(notebooks),
        "--prices", "table",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    by_name = {n["name"]: n for n in report["notebooks"]}
    assert by_name["sub/broken.ipynb"]["ok"] is False
    assert by_name["sub/broken.ipynb"]["cell"] == 4
    assert "ValueError" in by_name["sub/broken.ipynb"]["error"]
    allocate = by_name["allocate.ipynb"]
    assert allocate["ok"] and allocate["peak_mib"] > ALLOCATE_MIB
    # per participant: the JupyterLab server (150 MiB) and the one notebook that ran
    assert report["memory"]["per_participant_mib"] == pytest.approx(150 + allocate["peak_mib"], abs=0.2)
    assert report["prices"]["source"] == "table" and report["prices"]["region"] == "eu-west-1"
    assert report["recommended"]["arch"] == "x86_64"  # hub.instance_type t3.medium
    assert "1 notebook(s) failed and are left out of the plan" in report["notes"]
    assert report["applied"] is None


def test_plan_text_and_apply_then_auto_resolves(notebooks: Path, workshop: Path) -> None:
    text = workshop.read_text()
    # The example has no session (any example date expires): one a week from today, sized by the plan.
    day = dt.date.today() + dt.timedelta(days=7)
    session = f'sessions:\n  - date: {day}\n    start: "09:00"\n    end: "17:00"\n    instance_type: auto\n'
    assert "\nsessions: []\n" in text
    workshop.write_text(text.replace("\nsessions: []\n", "\n" + session))
    with pytest.raises(
        workshop_config.ConfigError, match=r"sessions\[0\]\.instance_type: 'auto' needs a plan"
    ):
        workshop_config.resolve_auto(workshop_config.load(workshop))

    code, out, err = run_plan(
        "--config", str(workshop), "plan", "-n", "12", "--notebooks", str(notebooks), "--prices", "table",
        "--apply",
    )  # fmt: skip
    assert code == 0, err
    assert "allocate" in out
    assert "sub/broken.ipynb: failed in cell 4: ValueError: the data file is missing" in out
    assert "recommended session type" in out and f"written to {workshop}" in out

    applied = workshop_config.load(workshop)
    assert applied.plan is not None and applied.plan.participants == 12
    assert applied.hub.memory_limit is not None
    resolved = workshop_config.resolve_auto(applied)
    assert resolved.sessions[0].instance_type == applied.plan.instance_type
    # every comment of the original file is still there
    original_comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    after = workshop.read_text()
    assert all(comment in after for comment in original_comments)


def test_plan_when_no_notebook_runs(tmp_path: Path, workshop: Path) -> None:
    folder = tmp_path / "bad"
    write(folder, "a.ipynb", "import no_such_module_anywhere")
    code, _, err = run_plan("--config", str(workshop), "plan", "-n", "3", "--notebooks", str(folder))
    assert code == 1
    assert "no notebook ran to the end" in err
    assert "a.ipynb: cell 2: ModuleNotFoundError" in err


def test_the_example_notebooks_run() -> None:
    for path in find_notebooks(EXAMPLES):
        measured = run_notebook(path, EXAMPLES)
        assert measured.ok, (path, measured.error)


def test_python_runs_the_kernels_in_that_environment(tmp_path: Path, workshop: Path) -> None:
    """--python (the sandbox's default is its user environment): a venv that sees the project's
    packages through a .pth file, as the sandbox makes it, runs the kernel."""
    import subprocess
    import sys
    import sysconfig

    env = tmp_path / "workshop-env"
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    folder = tmp_path / "nb"
    write(folder, "where.ipynb", f"import sys\nassert sys.prefix == {str(env)!r}, sys.prefix")
    code, out, err = run_plan(
        "--config", str(workshop), "-o", "json", "plan", "-n", "2", "--notebooks", str(folder),
        "--prices", "table", "--python", str(python),
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["notebooks"][0]["ok"] is True

    bare = tmp_path / "bare"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(bare)], check=True)
    code, _, err = run_plan(
        "--config", str(workshop), "plan", "-n", "2", "--notebooks", str(folder), "--python",
        str(bare / "bin" / "python"),
    )  # fmt: skip
    assert code == 2 and "cannot import ipykernel" in err


def test_data_folders_are_linked_into_the_kernels_home(tmp_path: Path, workshop: Path) -> None:
    data = tmp_path / "srv" / "workshopdata"
    data.mkdir(parents=True)
    (data / "cities.csv").write_text("name,people\nBerlin,3850000\n")
    folder = tmp_path / "course"
    write(
        folder,
        "read.ipynb",
        "import pathlib\nrows = (pathlib.Path.home() / 'workshopdata' / 'cities.csv').read_text().splitlines()",
        "assert rows[1].startswith('Berlin')\nassert pathlib.Path.cwd().parent == pathlib.Path.home()",
    )
    code, out, err = run_plan(
        "--config", str(workshop), "-o", "json", "plan", "-n", "2", "--notebooks", str(folder),
        "--data", str(data), "--prices", "table",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["notebooks"][0]["ok"] is True, report["notebooks"][0]
    assert not any("data repos not measured" in note for note in report["notes"])

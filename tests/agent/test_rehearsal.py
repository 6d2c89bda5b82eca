"""hubagent rehearse on a real JupyterHub whose users get real JupyterLab servers (the sandbox's spawner,
as real unix users when run as root), with the example material (sandbox/examples/rehearsal):
its notebooks repo behind an nbgitpuller link, its data repo synced by hubagent itself. The agent zip
runs through the SSM documents' own scripts (LocalCommands), with SSM's parameter checks and its cut of
stdout at 24,000 characters.

One rehearsal of the whole material runs once for the module; the tests read its results."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from workshop_hub.adapters.local_commands import LocalCommands
from workshop_hub.ports import SSM_STDOUT_LIMIT

from sandbox import prepare
from sandbox.hub import LocalHub, SpawnSettings
from sandbox.layout import GIT_PREFIX, PROJECT, Layout
from tests.agent.conftest import BASE_PATH

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(
        not (PROJECT / "node_modules" / ".bin" / "configurable-http-proxy").exists(),
        reason="configurable-http-proxy is not installed (npm ci)",
    ),
]

MATERIAL = PROJECT / "sandbox" / "examples" / "rehearsal"
REPO = f"{GIT_PREFIX}tree-workshop"
PARTICIPANT = "rehearsal--t35t01"
CELL_TIMEOUT = 5


def commit(folder: Path, files_from: Path | None = None) -> None:
    if files_from is not None:
        shutil.copytree(files_from, folder, dirs_exist_ok=True)
    prepare.git(folder, "init", "--quiet", "--initial-branch=main")
    prepare.git(folder, "add", "--all")
    prepare.git(
        folder, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-m", "material"
    )


@dataclass
class HubWithServers:
    layout: Layout
    hub: LocalHub
    commands: LocalCommands
    system_users: bool
    log_dir: Path
    runs: dict[str, Any] = field(default_factory=dict)

    def run(self, action: str, **params: str) -> dict[str, Any]:
        return self.commands.run(action, params, 600)

    def printed(self) -> list[str]:
        """Every JSON result line the agent printed (the runner's log keeps each run's stdout)."""
        text = (self.log_dir / "hubagent.log").read_text()
        return [line for line in text.splitlines() if line.startswith('{"ok"')]


@pytest.fixture(scope="module")
def world() -> Iterator[HubWithServers]:
    root = Path(tempfile.mkdtemp(prefix="rehearsal-", dir="/tmp"))
    root.chmod(0o755)  # participants' servers (other unix users) reach the user env and the repos
    layout = Layout(root)
    prepare.user_env(layout)
    prepare.skel(layout)
    agent = prepare.agent_dir(layout)
    commit(layout.repos / "tree-workshop", MATERIAL / "notebooks")
    commit(layout.repos / "treedata", MATERIAL / "data")
    system_users = os.geteuid() == 0 and shutil.which("useradd") is not None
    hub = LocalHub(
        layout.hub_dir,
        spawner=SpawnSettings(
            homes=layout.homes,
            skel=layout.skel,
            pid_dir=layout.server_pids,
            cmd=[str(layout.user_env / "bin" / "python"), "-m", "jupyterhub.singleuser"],
            environment=prepare.spawn_environment(layout),
            system_users=system_users,
        ),
    )
    log_dir = root / "logs"
    commands = LocalCommands(
        agent=agent,
        environ={
            "PATH": BASE_PATH,
            "LANG": "C.UTF-8",
            "HUBAGENT_HUB_API": hub.api_url,
            "HUBAGENT_PROXY_URL": hub.base_url,
            "HUBAGENT_TOKEN_FILE": str(hub.token_file),
            "HUBAGENT_DATA_ROOT": str(layout.data_root),
            "HUBAGENT_SKEL": str(layout.skel),
            "HUBAGENT_HOMES": str(layout.homes),
            "HUBAGENT_USER_ENV": str(layout.user_env),
            "HUBAGENT_ALLOW_LOCAL_REPOS": "1",
        },
        instance_state=lambda: "running",
        repo_map=lambda url: str(layout.repos / url.removeprefix(GIT_PREFIX)),
        log_dir=log_dir,
    )
    with hub:
        world = HubWithServers(layout, hub, commands, system_users, log_dir)
        world.run("data-sync", Name="treedata", Repo=f"{GIT_PREFIX}treedata", Ref="")
        world.runs["begin"] = world.run("rehearse-begin", Participant=PARTICIPANT, Repo=REPO)
        world.runs["home"] = sorted(p.name for p in (layout.homes / f"jupyter-{PARTICIPANT}").iterdir())
        world.runs["admin"] = hub.api("GET", f"/users/{PARTICIPANT}")[1]["admin"]
        world.runs["notebooks"] = {}
        for index in range(world.runs["begin"]["count"]):
            done = world.run(
                "rehearse-notebook",
                Participant=PARTICIPANT,
                Repo=REPO,
                Index=str(index),
                CellTimeout=str(CELL_TIMEOUT),
            )
            world.runs["notebooks"][done["notebook"]] = done
        world.runs["end"] = world.run("rehearse-end", Participant=PARTICIPANT)
        yield world
    shutil.rmtree(root, ignore_errors=True)


def failures(world: HubWithServers, notebook: str) -> dict[int, dict[str, Any]]:
    return {f["cell"]: f for f in world.runs["notebooks"][notebook]["failures"]}


def test_the_participant_logs_in_and_follows_the_link_through_the_hub(world: HubWithServers) -> None:
    begun = world.runs["begin"]
    assert begun["participant"] == PARTICIPANT and world.runs["admin"] is False
    assert begun["how"].startswith("logged in through the login page")
    assert begun["link"].startswith("/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgit.sandbox.invalid")
    assert begun["opened"] == f"/user/{PARTICIPANT}/git-pull"
    assert begun["folder"] == "tree-workshop" and begun["data"] == ["treedata"]
    assert "tree-workshop" in world.runs["home"] and "treedata" in world.runs["home"]
    names = [n["name"] for n in begun["notebooks"]]
    assert names == [
        "01-explore.ipynb",
        "02-clean.ipynb",
        "03-model.ipynb",
        "04-download.ipynb",
        "completed/02-clean-completed.ipynb",
        "exercises/05-exercise.ipynb",
    ]
    assert begun["notebooks"][-1] == {
        "name": "exercises/05-exercise.ipynb",
        "code_cells": 4,
        "empty_cells": 3,
    }


def test_a_notebook_that_works_runs_whole_and_is_measured(world: HubWithServers) -> None:
    run = world.runs["notebooks"]["01-explore.ipynb"]
    assert (run["ran"], run["failed"], run["outcomes"]) == (4, 0, "....")
    # the 10-million-value sample (two arrays of 76 MiB) is in the kernel's peak, over its baseline
    assert run["peak_bytes"] - run["baseline_bytes"] > 120 * 2**20
    assert run["import_seconds"] > 0 and run["code_seconds"] > 0 and run["cpu_seconds"] > 0
    assert run["next_cell"] is None and run["kernel"] == "python3"


def test_a_typo_in_a_data_path_names_the_nearest_existing_path(world: HubWithServers) -> None:
    found = failures(world, "02-clean.ipynb")
    assert found[3]["category"] == "missing-file"
    assert "'../treedta/trees.csv'" in found[3]["error"]
    assert "the nearest existing path is '../treedata/trees.csv' (~/treedata/trees.csv)" in found[3]["hint"]
    # the cell after it, with the path right, ran: a rehearsal runs past a failing cell
    assert world.runs["notebooks"]["02-clean.ipynb"]["outcomes"] == ".F.F"


def test_a_folder_nobody_made_is_named(world: HubWithServers) -> None:
    found = failures(world, "02-clean.ipynb")
    assert found[5]["category"] == "missing-folder"
    assert "the folder 'results', where 'results/clean.csv' should be, does not exist" in found[5]["hint"]
    assert "os.makedirs('results', exist_ok=True)" in found[5]["hint"]


def test_a_missing_module_gives_the_packages_add_spec(world: HubWithServers) -> None:
    found = failures(world, "03-model.ipynb")
    assert found[2]["category"] == "missing-module"
    assert found[2]["error"] == "ModuleNotFoundError: No module named 'sklearn'"
    assert found[2]["hint"] == "not installed on the hub: hubctl packages add scikit-learn"
    assert found[3]["category"] == "follow-on"
    assert "'LinearRegression' comes from cell 2, which failed first" in found[3]["hint"]


def test_a_library_that_refused_an_old_api_is_named_with_its_version(world: HubWithServers) -> None:
    import numpy

    found = failures(world, "03-model.ipynb")
    assert found[4]["category"] == "old-api"
    assert found[4]["hint"].startswith(f"numpy {numpy.__version__} (installed on the hub) has no numpy.float")


def test_a_cell_that_runs_too_long_is_interrupted_and_the_next_one_runs(world: HubWithServers) -> None:
    run = world.runs["notebooks"]["03-model.ipynb"]
    found = failures(world, "03-model.ipynb")
    assert found[5]["category"] == "timeout"
    assert found[5]["error"] == f"ran longer than {CELL_TIMEOUT} s"
    assert run["outcomes"] == "FFFT."  # the cell after the timeout ran in the same (interrupted) kernel


def test_a_download_says_whether_the_hub_blocks_or_lacks_access(world: HubWithServers) -> None:
    found = failures(world, "04-download.ipynb")
    assert found[3]["category"] == "no-network"
    assert found[3]["hint"].startswith("the hub lacks access: data.example.invalid does not resolve")


def test_a_completed_notebook_that_changes_folder_is_caught_twice(world: HubWithServers) -> None:
    found = failures(world, "completed/02-clean-completed.ipynb")
    # os.chdir('../') from completed/ lands in the repository, not the home: the data is one more up
    assert found[3]["category"] == "missing-file"
    assert "the nearest existing path is '../treedata/trees.csv'" in found[3]["hint"]
    assert found[4]["category"] == "missing-folder"
    assert "the author's own account or computer" in found[4]["hint"]


def test_empty_exercise_cells_are_not_run(world: HubWithServers) -> None:
    run = world.runs["notebooks"]["exercises/05-exercise.ipynb"]
    assert (run["ran"], run["failed"], run["outcomes"], run["code_seconds"]) == (1, 0, ".---", 0.0)


def test_the_participant_is_removed_whole(world: HubWithServers) -> None:
    assert world.runs["end"]["removed"] == [PARTICIPANT]
    assert world.hub.api("GET", f"/users/{PARTICIPANT}")[0] == 404
    assert not (world.layout.homes / f"jupyter-{PARTICIPANT}").exists()
    if world.system_users:
        with pytest.raises(KeyError):
            pwd.getpwnam(f"jupyter-{PARTICIPANT}")


def test_every_result_fits_ssms_output(world: HubWithServers) -> None:
    lines = world.printed()
    assert len(lines) >= 9 and all(len(line) < SSM_STDOUT_LIMIT for line in lines)


def test_a_long_notebook_goes_on_in_the_next_command_in_the_same_kernel(world: HubWithServers) -> None:
    """A command runs cells for its budget; the next one goes on from the cell it names, with the
    kernel (and what the cells before defined) waiting in the participant's server."""
    repo = world.layout.repos / "long"
    repo.mkdir()
    cells = (
        ["import time\nstart = time.time()"] + ["time.sleep(1.5)"] * 3 + ["print(round(time.time() - start))"]
    )
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
            for c in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    (repo / "long.ipynb").write_text(json.dumps(notebook))
    commit(repo)
    url = f"{GIT_PREFIX}long"
    participant = "rehearsal--l0ng00"
    world.commands.environ["HUBAGENT_REHEARSE_BUDGET"] = "7"
    try:
        world.run("rehearse-begin", Participant=participant, Repo=url)
        first = world.run("rehearse-notebook", Participant=participant, Repo=url, Index="0", CellTimeout="3")
        assert first["next_cell"] is not None and first["failed"] == 0
        second = world.run(
            "rehearse-notebook",
            Participant=participant,
            Repo=url,
            Index="0",
            FromCell=str(first["next_cell"]),
            CellTimeout="3",
        )
    finally:
        del world.commands.environ["HUBAGENT_REHEARSE_BUDGET"]
        world.run("rehearse-end", Participant=participant)
    assert second["next_cell"] is None and second["failed"] == 0  # 'start' was still defined
    assert first["ran"] + second["ran"] == 5 and (first["outcomes"] + second["outcomes"]) == "....."


def test_begin_removes_what_an_earlier_rehearsal_left(world: HubWithServers) -> None:
    world.hub.api("POST", "/users/rehearsal--left00")
    leftover_home = world.layout.homes / "jupyter-rehearsal--left01"
    leftover_home.mkdir(parents=True)
    (leftover_home / "x").write_text("x")
    participant = "rehearsal--n3xt00"
    try:
        begun = world.run("rehearse-begin", Participant=participant, Repo=REPO)
    finally:
        world.run("rehearse-end", Participant=participant)
    assert begun["removed_leftovers"] == ["rehearsal--left00", "rehearsal--left01"]
    assert world.hub.api("GET", "/users/rehearsal--left00")[0] == 404 and not leftover_home.exists()


def test_the_documents_refuse_a_participant_outside_the_rehearsals_own_names(world: HubWithServers) -> None:
    from workshop_hub.adapters.local_commands import InvalidParameters

    world.hub.api("POST", "/users/grace")
    for name in ("grace", "rehearsal--../x", "rehearsal--ABCDEF"):
        with pytest.raises(InvalidParameters):
            world.run("rehearse-end", Participant=name)
    assert world.hub.api("GET", "/users/grace")[0] == 200
    done = subprocess.run(
        ["/usr/bin/python3", "-I", str(world.commands.agent), "rehearse", "end", "--participant", "grace"],
        env=world.commands.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "is not a rehearsal participant" in done.stdout
    assert world.hub.api("GET", "/users/grace")[0] == 200


def test_a_notebook_of_many_long_failures_still_fits_ssms_output(world: HubWithServers) -> None:
    repo = world.layout.repos / "noisy"
    repo.mkdir()
    cells = [f"raise ValueError('cell {i}: ' + 'x' * 600)" for i in range(90)]
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
            for c in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    (repo / "noisy.ipynb").write_text(json.dumps(notebook))
    commit(repo)
    url = f"{GIT_PREFIX}noisy"
    participant = "rehearsal--n0i5y0"
    try:
        world.run("rehearse-begin", Participant=participant, Repo=url)
        done = world.run("rehearse-notebook", Participant=participant, Repo=url, Index="0", CellTimeout="30")
    finally:
        world.run("rehearse-end", Participant=participant)
    assert (done["ran"], done["failed"]) == (90, 90)  # every outcome is counted, whatever is listed
    assert done["failures_complete"] is False
    listed = done["failures"]
    assert [f["cell"] for f in listed] == list(range(1, len(listed) + 1))
    assert "hint" in listed[0] and "hint" not in listed[-1]  # the first whole, the last cell and category
    assert len(json.dumps(done)) < SSM_STDOUT_LIMIT

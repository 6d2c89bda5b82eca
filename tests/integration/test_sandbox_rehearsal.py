"""hubctl rehearse on the sandbox, end to end: `make up`'s sandbox with the example material (its data
repo in workshop.yaml, its notebooks repo in the sandbox's repos/), the rehearsal through the API, the
worker and hubagent's documents, a real JupyterHub and real JupyterLab servers; then the plan from what
ran, and the throwaway participant gone from the hub, the unix users and the homes."""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl.cli import app as hubctl_app
from sandbox.layout import GIT_PREFIX, PROJECT
from tests.integration.test_sandbox import Sandbox, running_sandbox

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(
        not (PROJECT / "node_modules" / ".bin" / "configurable-http-proxy").exists(),
        reason="configurable-http-proxy is not installed (npm ci)",
    ),
]

CONFIG = {
    "hub": {"name": "rehearsal-test", "region": "eu-west-1", "instance_type": "t3.medium", "volume_gib": 30},
    "packages": {"pip": [], "conda": []},
    # the sandbox serves its example data repo as repos/treedata: `up` syncs it into every home
    "data_repos": [{"name": "treedata", "repo": "https://github.com/example/treedata"}],
    "notebooks": {"repo": "https://github.com/example/tree-workshop"},
    "schedule": {"timezone": "Europe/Berlin", "night_stop": {"time": "22:00"}},
}
MATERIAL = f"{GIT_PREFIX}tree-workshop"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from running_sandbox(CONFIG, tmp_path_factory, "rehearsal", timeout_s=300)


def hubctl(sandbox: Sandbox, *args: str) -> Any:
    env = {
        "HUBCTL_SANDBOX": "1",
        "HUBCTL_API_URL": sandbox.api_url,
        "HUBCTL_TOKEN_FILE": str(sandbox.layout.token_file),
        "HUBCTL_HUB_URL": sandbox.hub_url,
        "HUBCTL_POLL_SECONDS": "0.5",
    }
    return CliRunner().invoke(
        hubctl_app, ["--sandbox", "--config", str(sandbox.layout.config_yaml), *args], env=env
    )


@pytest.fixture(scope="module")
def rehearsed(sandbox: Sandbox) -> dict[str, Any]:
    """One rehearsal of the example material, as the instructor runs it: its text and its operation."""
    result = hubctl(sandbox, "rehearse", "--repo", MATERIAL, "--cell-timeout", "5")
    ops = sandbox.http("GET", "/operations")[1]["operations"]
    op = sandbox.http("GET", f"/operations/{ops[0]['id']}")[1]
    return {"code": result.exit_code, "text": result.stdout, "err": result.stderr, "op": op}


def test_the_rehearsal_finds_each_fault_of_the_example_material(rehearsed: dict[str, Any]) -> None:
    assert rehearsed["op"]["kind"] == "rehearse" and rehearsed["op"]["state"] == "succeeded", rehearsed["op"]
    assert rehearsed["code"] == 1, rehearsed["text"] + rehearsed["err"]  # notebooks failed
    found = {
        (n["name"], f["cell"]): (f["category"], f["hint"])
        for n in rehearsed["op"]["result"]["notebooks"]
        for f in n["failures"]
    }
    expected = {
        ("02-clean.ipynb", 3): ("missing-file", "the nearest existing path is '../treedata/trees.csv'"),
        ("02-clean.ipynb", 5): (
            "missing-folder",
            "the folder 'results', where 'results/clean.csv' should be",
        ),
        ("03-model.ipynb", 2): ("missing-module", "hubctl packages add scikit-learn"),
        ("03-model.ipynb", 3): ("follow-on", "comes from cell 2, which failed first"),
        ("03-model.ipynb", 4): ("old-api", "(installed on the hub) has no numpy.float"),
        ("03-model.ipynb", 5): ("timeout", "interrupted after 5 s, as a participant would stop it"),
        ("04-download.ipynb", 3): (
            "no-network",
            "the hub lacks access: data.example.invalid does not resolve",
        ),
        ("completed/02-clean-completed.ipynb", 3): (
            "missing-file",
            "nearest existing path is '../treedata/trees.csv'",
        ),
        ("completed/02-clean-completed.ipynb", 4): ("missing-folder", "the author's own account or computer"),
    }
    assert set(found) == set(expected), rehearsed["text"]
    for where, (category, words) in expected.items():
        assert found[where][0] == category, (where, found[where])
        assert words in found[where][1], (where, found[where])


def test_the_report_reads_in_80_columns(rehearsed: dict[str, Any]) -> None:
    lines = rehearsed["text"].splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == f"rehearsed {MATERIAL}"
    said = " ".join(line.strip() for line in lines[1:3])
    assert "not an admin: the link put the notebooks in ~/tree-workshop; data: treedata" in said
    rows = {line.split()[0]: line.split()[1:3] for line in lines if line.endswith(" s") and ".ipynb" in line}
    assert rows["01-explore.ipynb"] == ["4/4", "0"]
    assert rows["03-model.ipynb"] == ["5/5", "4"]
    assert rows["exercises/05-exercise.ipynb"] == ["1/1", "0"]
    for words in (
        "cell 2: missing module",
        "cell 4: library refused",
        "cell 5: timeout",
        "cell 3: no network",
    ):
        assert f"  {words}" in lines
    assert "4 notebook(s) failed" in rehearsed["text"]


def test_the_throwaway_participant_is_gone(sandbox: Sandbox, rehearsed: dict[str, Any]) -> None:
    participant = rehearsed["op"]["result"]["participant"]
    assert participant.startswith("rehearsal--")
    assert rehearsed["op"]["result"]["removed"] == {"done": True, "names": [participant]}
    token = (sandbox.layout.hub_dir / "service-token").read_text().strip()
    import urllib.request

    request = urllib.request.Request(
        f"{sandbox.state['hub_api_url']}/users", headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request) as reply:
        names = [u["name"] for u in json.loads(reply.read())]
    assert not [n for n in names if n.startswith("rehearsal--")]
    assert not list(sandbox.layout.homes.glob("jupyter-rehearsal--*"))
    with pytest.raises(KeyError):
        pwd.getpwnam(f"jupyter-{participant}")
    steps = [s["name"] for s in rehearsed["op"]["steps"] if s["name"] != "wait for the hub"]
    assert steps[0] == f"{participant} logs in and follows the link"
    assert steps[-1].startswith(f"remove {participant}")


def test_the_plan_from_the_rehearsal(sandbox: Sandbox, rehearsed: dict[str, Any]) -> None:
    result = hubctl(sandbox, "-o", "json", "plan", "-n", "30", "--rehearsal", "latest", "--prices", "table")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_name = {n["name"]: n for n in report["notebooks"]}
    assert by_name["01-explore.ipynb"]["measured"] and by_name["01-explore.ipynb"]["peak_mib"] > 150
    assert by_name["03-model.ipynb"]["not_measured"] == "4 of its 5 code cells failed"
    assert by_name["exercises/05-exercise.ipynb"]["not_measured"] == "its code cells only import"
    assert report["measured_count"] == 4 and report["warning"] is None
    assert report["memory"]["per_participant_mib"] == pytest.approx(
        150 + by_name["01-explore.ipynb"]["peak_mib"], abs=0.2
    )


def test_a_real_participant_cannot_take_the_rehearsals_names(sandbox: Sandbox) -> None:
    result = hubctl(sandbox, "users", "add", "rehearsal--abc123")
    assert result.exit_code == 2
    assert "starts with 'rehearsal--', which is kept for hubctl rehearse" in result.output


def test_status_reports_the_sandboxs_own_volume(sandbox: Sandbox) -> None:
    status = sandbox.http("GET", "/status")[1]
    disk = status["hub_health"]["disk"]
    assert disk["total_bytes"] == 30 * 1024**3 and disk["mount"] == str(sandbox.layout.root)
    assert 0 < disk["used_bytes"] < disk["total_bytes"]
    result = hubctl(sandbox, "status")
    assert result.exit_code == 0, result.output
    assert " of 30.0 GiB used" in result.stdout  # the pretend volume, not this machine's disk

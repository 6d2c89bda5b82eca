"""hubctl plan refuses bad input before running anything, naming the option and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubctl.cli import app

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prices", "cheap"], "--prices: 'cheap' is not one of auto, table, live"),
        (["--notebooks", "/no/such/folder"], "--notebooks: /no/such/folder is not a folder"),
        (["--notebooks", str(PROJECT / "agent"), "--prices", "table"], "no .ipynb notebooks in"),
        (["--data", "/no/such/data", "--prices", "table"], "--data: not a folder: /no/such/data"),
        (["--participants", "0"], "Invalid value for '--participants' / '-n'"),
        (["--kernel", "julia-9"], "--kernel: no Jupyter kernel named 'julia-9'"),
    ],
)
def test_bad_input_exits_2_naming_the_option(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workshop.yaml").write_text("hub:\n  region: eu-west-1\n")
    full = ["plan", *(["--participants", "3"] if "--participants" not in args else []), *args]
    result = CliRunner().invoke(app, full)
    assert result.exit_code == 2, result.stdout
    assert message in " ".join((result.stderr + result.stdout).split())


def test_without_a_notebooks_repo_it_asks_for_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workshop.yaml").write_text("hub:\n  region: eu-west-1\n")
    result = CliRunner().invoke(app, ["plan", "-n", "3", "--prices", "table"])
    assert result.exit_code == 2
    assert "workshop.yaml has no notebooks repo to measure" in result.stderr


def test_in_the_sandbox_the_data_repos_local_copies_are_measured(tmp_path, monkeypatch):
    from workshop_hub import config as workshop_config

    from hubctl.plan import command, measure
    from sandbox.layout import GIT_PREFIX

    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path))
    data = tmp_path / "repos" / "workshopdata"
    (data / ".git").mkdir(parents=True)
    (data / "big.csv").write_bytes(b"x" * 100_000)
    (data / ".git" / "pack").write_bytes(b"x" * 5000)  # git's own files are not what participants see
    config = workshop_config.parse(
        {
            "data_repos": [
                {"name": "workshopdata", "repo": f"{GIT_PREFIX}workshopdata"},
                {"name": "elsewhere", "repo": "https://github.com/jupyterhub/nbgitpuller"},
            ]
        }
    )
    assert command.sandbox_data(config) == {"workshopdata": data}
    assert measure.folder_bytes(data) == 100_000


def test_apply_in_the_sandbox_writes_the_file_make_up_read(tmp_path, monkeypatch):
    from hubctl.discovery import Target
    from hubctl.plan import command
    from sandbox.layout import Layout

    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "sandbox"))
    layout = Layout(tmp_path / "sandbox")
    layout.root.mkdir()
    layout.config_yaml.write_text("hub: {}\n")
    source = tmp_path / "mine.yaml"
    source.write_text("hub: {}\n")
    layout.write_state({"config_source": str(source)})
    sandboxed = Target(config_path=layout.config_yaml, sandbox=True)
    assert command.plan_file(sandboxed) == source
    # a --config given on purpose is where it writes
    chosen = Target(config_path=tmp_path / "other.yaml", sandbox=True)
    assert command.plan_file(chosen) == tmp_path / "other.yaml"

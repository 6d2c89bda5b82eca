"""hubctl end to end: Typer's runner -> HTTP -> the API handler -> a ControlPlane on moto, operations
run by an inline worker; discovery from CloudFormation outputs and SigV4 signing, on moto."""

from __future__ import annotations

import json

import pytest
from handlers import api
from handlers import plane as handlers_plane
from typer.testing import CliRunner

from hubctl.cli import app
from tests.support.apigw_server import serve
from tests.support.moto_hub import REGION, ROOT, moto_hub

TOKEN = "t0ken"


@pytest.fixture(scope="module")
def shared_hub():
    with moto_hub() as built:
        yield built


@pytest.fixture
def moto(shared_hub, tmp_path, monkeypatch):
    shared_hub.reset()
    handlers_plane.use_control_plane(shared_hub.plane)
    (tmp_path / "workshop.yaml").write_text((ROOT / "workshop.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUBCTL_POLL_SECONDS", "0")
    yield shared_hub
    shared_hub.run_all()
    import boto3

    cfn = boto3.client("cloudformation", region_name=REGION)
    for stack in cfn.describe_stacks()["Stacks"]:
        cfn.delete_stack(StackName=stack["StackName"])


@pytest.fixture
def hub(moto, tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text(TOKEN)
    monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(token))
    with serve(api.handler, token=TOKEN) as server:
        monkeypatch.setenv("HUBCTL_API_URL", server.url)
        yield moto


def hubctl(*args):
    return CliRunner().invoke(app, list(args))


def test_every_command(hub, tmp_path):
    assert hubctl("status").exit_code == 0
    assert hubctl("users", "add", "ada", "grace").exit_code == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Email\nAlan,alan@example.org\nKaty,katy@example.org\n")
    result = hubctl("users", "add", "--csv", str(roster), "--column", "email")
    assert result.exit_code == 0, result.output
    listed = json.loads(hubctl("-o", "json", "users", "list").stdout)["users"]
    assert {u["username"] for u in listed} == {"ada", "grace", "alan", "katy"}
    assert hubctl("users", "remove", "grace").exit_code == 0
    assert hubctl("sync").exit_code == 0  # every data repo of workshop.yaml
    assert hubctl("packages", "add", "geopandas==1.0.1").exit_code == 0
    assert hubctl("keep-awake", "+2h").exit_code == 0
    assert hubctl("stop", "--force").exit_code == 0
    assert hubctl("resize", "t3.large").exit_code == 0
    assert hubctl("start").exit_code == 0
    assert hubctl("grow", "40").exit_code == 0
    status = json.loads(hubctl("-o", "json", "status").stdout)
    assert status["instance"]["type"] == "t3.large" and status["volume_gib"] == 40
    last = status["last_operations"][0]["id"]
    assert hubctl("ops", "show", last).exit_code == 0
    actions = [action for action, _ in hub.commands.sent]
    for action in ("users-add", "users-remove", "data-sync", "packages-install", "disk-grow"):
        assert action in actions


def test_a_bad_csv_sends_nothing(hub, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("username\nada\nAda.Lovelace\n")
    result = hubctl("users", "add", "--csv", str(roster))
    assert result.exit_code == 2 and "line 3: 'Ada.Lovelace'" in result.stderr
    assert hub.table_items() == []


def test_link_reads_the_hub_url_from_the_hub_stack(hub, monkeypatch, tmp_path):
    import boto3

    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="workshop-hub-hub", TemplateBody=_template({"HubUrl": "https://hub.example.org"})
    )
    png = tmp_path / "slide.png"
    result = hubctl("link", "intro.ipynb", "--png", str(png))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2F")
    assert "urlpath=lab%2Ftree%2Fnbgitpuller%2Fintro.ipynb" in result.stdout
    assert png.stat().st_size > 0


def _template(outputs):
    return json.dumps(
        {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
    )


def test_discovery_and_sigv4(moto, monkeypatch):
    """No HUBCTL_API_URL: the URL comes from the control stack; requests are SigV4-signed."""
    import boto3

    for name in ("HUBCTL_API_URL", "HUBCTL_TOKEN_FILE", "HUBCTL_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    missing = hubctl("status")
    assert missing.exit_code == 4 and "workshop-hub-control is not deployed in eu-west-1" in missing.stderr

    with serve(api.handler, require_sigv4=True) as server:
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName="workshop-hub-control", TemplateBody=_template({"ApiUrl": server.url + "/"})
        )
        result = hubctl("users", "add", "ada")
        assert result.exit_code == 0, result.output
        auth = server.events[-1]["headers"]["Authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=")
        assert f"/{REGION}/execute-api/aws4_request" in auth
        assert "x-amz-date" in auth


def test_a_sandbox_flag_without_a_url_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("HUBCTL_API_URL", "HUBCTL_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = hubctl("--sandbox", "status")
    assert result.exit_code == 4 and "HUBCTL_API_URL" in result.stderr


def test_no_workshop_yaml_exits_4(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("HUBCTL_API_URL", "HUBCTL_TOKEN_FILE", "HUBCTL_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    result = hubctl("status")
    assert result.exit_code == 4 and "workshop.yaml: no such file" in result.stderr

"""Against a deployed hub on real AWS: opt-in, skipped without WORKSHOP_HUB_E2E=1 and credentials.

Run after `make deploy` with the same workshop.yaml:

    make e2e                                           # the safe tier
    WORKSHOP_HUB_E2E_DESTRUCTIVE=1 make e2e            # also stop, start, resize, grow, night stop

It drives hubctl (discovery from the stacks' outputs, SigV4) against the real API and checks the effect
on the hub itself, through AWS-RunShellScript as root (on_instance.py): JupyterHub's own user record,
the data folder's permissions as the participant sees them, pip's own list of packages. The safe tier
adds and removes one participant and leaves the hub as it found it (running or stopped). The
destructive tier is for a disposable hub: it prints its estimated cost first.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl.cli import app
from tests.e2e import on_instance

pytestmark = pytest.mark.e2e

DESTRUCTIVE = os.environ.get("WORKSHOP_HUB_E2E_DESTRUCTIVE") == "1"
# On-demand USD per hour in eu-west-1 (AWS price list, 2026-11); for the cost printed before the
# destructive tier, which runs the hub for about 40 minutes and grows its volume by 1 GiB for good.
HOURLY_USD = {
    "t3.medium": 0.0456,
    "t3.large": 0.0912,
    "t3.xlarge": 0.1824,
    "t4g.medium": 0.0368,
    "t4g.large": 0.0736,
}
GP3_GIB_MONTH_USD = 0.088
SNAPSHOT_GIB_MONTH_USD = 0.05


def _credentials() -> bool:
    try:
        import boto3

        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


if os.environ.get("WORKSHOP_HUB_E2E") != "1" or not _credentials():
    pytest.skip(
        "real AWS: set WORKSHOP_HUB_E2E=1 with credentials for a deployed hub", allow_module_level=True
    )


def hubctl(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["--output", "json", *args])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.fixture(scope="module")
def config() -> Any:
    from workshop_hub import config as workshop_config

    return workshop_config.load(os.environ.get("WORKSHOP_HUB_CONFIG", "workshop.yaml"))


@pytest.fixture(scope="module")
def instance(config: Any) -> Iterator[tuple[Any, str]]:
    """(an SSM client, the hub's instance id); the hub running for the module, stopped again after
    if it was stopped before."""
    import boto3

    status = hubctl("status")
    was_stopped = status["instance"]["state"] == "stopped"
    hubctl("start")
    yield boto3.client("ssm", region_name=config.hub.region), status["instance"]["id"]
    if was_stopped:
        hubctl("stop", "--force")


@pytest.fixture
def participant(instance: tuple[Any, str]) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(3)}"
    hubctl("users", "add", name)
    yield name
    hubctl("users", "remove", name)
    assert on_instance.hub_user(instance[0], instance[1], name) is None, "the participant is still on the hub"


def test_status_reports_the_instance_and_its_volume() -> None:
    status = hubctl("status")
    assert status["instance"]["state"] in ("running", "stopped", "pending", "stopping")
    assert status["volume_gib"] >= 10
    assert status["hub_url"].startswith(("http://", "https://"))


def test_a_participant_added_through_the_api_is_a_user_of_jupyterhub(instance, participant) -> None:
    record = on_instance.hub_user(instance[0], instance[1], participant)
    assert record is not None and record["name"] == participant and record["admin"] is False


def test_the_data_repos_are_there_linked_and_read_only_to_a_participant(
    instance, participant, config
) -> None:
    if not config.data_repos:
        pytest.skip("workshop.yaml has no data_repos")
    on_instance.spawn(instance[0], instance[1], participant)
    for repo in config.data_repos:
        seen = on_instance.data_folder(instance[0], instance[1], repo.name, participant)
        assert seen == {"exists": True, "linked": True, "read_only": True}, (repo.name, seen)


def test_the_workshops_packages_are_installed(instance, config) -> None:
    import re

    for spec in config.packages.pip:
        name = re.match(r"[A-Za-z0-9._-]+", spec)
        assert name and on_instance.installed(instance[0], instance[1], name.group(0).lower()), spec


# --- the destructive tier: a disposable hub -------------------------------------------------------


def _estimate(config: Any) -> str:
    everyday, bigger = config.hub.instance_type, "t3.large"
    hours = 40 / 60
    compute = hours * (HOURLY_USD.get(everyday, 0.1) + HOURLY_USD.get(bigger, 0.1)) / 2
    volume = GP3_GIB_MONTH_USD  # +1 GiB, per month, for as long as the hub exists
    snapshot = (config.hub.volume_gib + 1) * SNAPSHOT_GIB_MONTH_USD  # the pre-grow snapshot, until deleted
    return (
        f"estimated cost: about ${compute:.2f} of instance time (40 min), then ${volume:.3f}/month more for the "
        f"grown volume and up to ${snapshot:.2f}/month for the pre-grow snapshot until you delete it"
    )


destructive = pytest.mark.skipif(
    not DESTRUCTIVE, reason="set WORKSHOP_HUB_E2E_DESTRUCTIVE=1 (a disposable hub)"
)


@destructive
def test_destructive_stop_start_resize_grow_and_the_night_stop(config, capsys) -> None:
    import boto3

    with capsys.disabled():
        print("\n" + _estimate(config))
    everyday = config.hub.instance_type
    bigger = "t4g.large" if everyday.startswith(("t4g", "m7g", "c7g", "a1")) else "t3.large"

    hubctl("stop", "--force")
    assert hubctl("status")["instance"]["state"] == "stopped"
    hubctl("start")
    status = hubctl("status")
    assert status["instance"]["state"] == "running" and status["hub_health"]["hub_ok"] is True

    hubctl("resize", bigger, "--force")
    assert hubctl("status")["instance"]["type"] == bigger
    hubctl("resize", everyday, "--force")
    status = hubctl("status")
    assert status["instance"]["type"] == everyday and status["hub_health"]["hub_ok"] is True

    size = int(status["volume_gib"]) + 1
    grown = hubctl("grow", str(size))
    assert grown["state"] == "succeeded" and grown["result"]["filesystem"]["changed"] is True

    # The night stop postpones while a participant is active, then stops when forced by the deadline.
    ssm = boto3.client("ssm", region_name=config.hub.region)
    name = f"e2e-{secrets.token_hex(3)}"
    hubctl("users", "add", name)
    try:
        on_instance.spawn(ssm, status["instance"]["id"], name)  # a running server counts as activity
        fn = boto3.client("lambda", region_name=config.hub.region)
        answer = json.loads(
            fn.invoke(
                FunctionName=f"{config.hub.name}-schedule", Payload=json.dumps({"action": "night-stop"})
            )["Payload"].read()
        )
        night = hubctl("ops", "show", answer["operation_id"], "--wait")
        assert night["state"] == "succeeded" and night["result"]["stopped"] is False, night
        assert night["result"]["active_users"] == [name]
    finally:
        hubctl("users", "remove", name)
    hubctl("stop", "--force")
    assert hubctl("status")["instance"]["state"] == "stopped"

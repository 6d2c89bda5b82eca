"""Against a deployed hub on real AWS: opt-in, skipped without WORKSHOP_HUB_E2E=1 and credentials.

Run after `make deploy` with the same workshop.yaml:

    WORKSHOP_HUB_E2E=1 .venv/bin/pytest tests/e2e

It drives hubctl (discovery from the stacks' outputs, SigV4) against the real API and checks the effect
on the real hub: a participant added through the control plane exists in JupyterHub, and is removed
again. It leaves the hub in the state it found it (running or stopped), and never resizes or grows.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.request
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl.cli import app

pytestmark = pytest.mark.e2e


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


def test_status_reports_the_instance_and_its_volume() -> None:
    status = hubctl("status")
    assert status["instance"]["state"] in ("running", "stopped", "pending", "stopping")
    assert status["volume_gib"] >= 10
    assert status["hub_url"].startswith(("http://", "https://"))


def test_a_participant_added_through_the_api_exists_on_the_hub() -> None:
    status = hubctl("status")
    was_stopped = status["instance"]["state"] == "stopped"
    name = f"e2e-{secrets.token_hex(3)}"
    try:
        hubctl("start")
        hubctl("users", "add", name)
        roster = {user["username"]: user for user in hubctl("users", "list")["users"]}
        assert roster[name]["on_hub"] is True
        with urllib.request.urlopen(f"{status['hub_url'].rstrip('/')}/hub/api", timeout=10) as answer:
            assert answer.status == 200
    finally:
        hubctl("users", "remove", name)
        if was_stopped:
            hubctl("stop", "--force")
    assert name not in {user["username"] for user in hubctl("users", "list")["users"]}

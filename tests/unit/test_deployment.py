"""The functions' environment: every missing variable is named at once."""

from __future__ import annotations

import json

import pytest
from workshop_hub.deployment import Deployment, DeploymentError
from workshop_hub.ports import ACTIONS

ENV = {
    "TABLE_NAME": "t",
    "INSTANCE_ID": "i-0123456789abcdef0",
    "HUB_NAME": "workshop-hub",
    "DOCUMENT_NAMES": json.dumps({a: f"doc-{a}" for a in ACTIONS}),
    "WORKER_FUNCTION_NAME": "worker",
    "SCHEDULE_GROUP": "g",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::1:role/r",
    "SCHEDULE_TARGET_ARN": "arn:aws:lambda:eu-west-1:1:function:s",
    "HUB_URL": "http://203.0.113.10",
}


def test_complete_environment() -> None:
    settings = Deployment.from_env(ENV)
    assert settings.volume_id == "" and settings.config_path.name == "workshop.json"
    assert settings.document_names["users-add"] == "doc-users-add"


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(DeploymentError, match="missing environment variables: TABLE_NAME, HUB_URL"):
        Deployment.from_env({k: v for k, v in ENV.items() if k not in ("TABLE_NAME", "HUB_URL")})


def test_a_document_for_every_action() -> None:
    with pytest.raises(DeploymentError, match="no document for: health"):
        Deployment.from_env({**ENV, "DOCUMENT_NAMES": json.dumps({a: "d" for a in ACTIONS if a != "health"})})

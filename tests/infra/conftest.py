"""Synthesizes the app once per session per settings file and hands the templates to the tests.

Every test here is marked ``synth``: the first one pays for the CDK synth (about 10 s per app).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from workshop_hub import config as workshop_config

from stacks.app_builder import build
from stacks.hub_stack import HubStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Why the cfn-lint tests are left out of `make test-future` (the real_clock marker).
CFN_LINT_DATED = (
    "cfn-lint dates the Lambda runtimes' deprecation (E2533): at a later date it rightly flags the runtime that "
    "today's CDK gives its own custom-resource function, which that day's CDK will have moved past"
)

# Differs from every default, so a value that does not follow the settings is caught.
CUSTOM_SETTINGS: dict[str, Any] = {
    "hub": {
        "name": "geo-course",
        "region": "us-east-2",
        "instance_type": "t4g.large",
        "volume_gib": 57,
        "admin": "teacher",
        "tljh_version": "1.0.0",
    },
    "packages": {"pip": ["geopandas==1.0.1", "numpy>=1.26,<3"], "conda": ["gdal=3.9"]},
    "https": {
        "domain": "hub.example.org",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0b5f1c2e-3d4a-4b6c-8d7e-9f0a1b2c3d4e",
    },
}


@dataclass
class Synth:
    config: workshop_config.WorkshopConfig
    stack: HubStack
    outdir: Path
    template_json: dict[str, Any]

    @property
    def template(self) -> Template:
        return Template.from_json(self.template_json)

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == cfn_type}

    def only(self, cfn_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))


def synthesize(config: workshop_config.WorkshopConfig, outdir: Path, **kwargs: Any) -> Synth:
    built = build(config, str(outdir), **kwargs)
    assembly = built.app.synth()
    stack = built.hub
    template_json = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(config=config, stack=stack, outdir=outdir, template_json=template_json)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = workshop_config.load(PROJECT_ROOT / "workshop.yaml")
    return synthesize(config, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def custom_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = workshop_config.parse(json.loads(json.dumps(CUSTOM_SETTINGS)), "custom settings")
    return synthesize(config, tmp_path_factory.mktemp("cdk-custom"))

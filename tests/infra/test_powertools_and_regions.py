"""Production runs the Powertools release the tests run, the asset's dependencies are the pinned pure
wheels, and a Region without durable functions is refused before anything is built."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version
from workshop_hub import config as workshop_config

from stacks import bundles, powertools, regions
from stacks.app_builder import build

from .conftest import PROJECT_ROOT, Synth
from .test_app import quiet_env


def test_the_layer_is_resolved_for_exactly_the_release_the_tests_run(default_synth: Synth) -> None:
    release = powertools.pinned_release()
    assert release == version("aws-lambda-powertools"), "the venv runs another Powertools than pyproject pins"
    template = json.loads((default_synth.outdir / "workshop-hub-control.template.json").read_text())
    parameters = {
        p["Default"]
        for p in template["Parameters"].values()
        if p["Type"] == "AWS::SSM::Parameter::Value<String>"
    }
    assert f"/aws/service/powertools/python/arm64/python3.13/{release}" in parameters
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            (layer,) = resource["Properties"]["Layers"]
            assert template["Parameters"][layer["Ref"]]["Default"].endswith(f"/{release}")


def test_the_pin_is_read_from_pyproject_and_must_be_exact(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["boto3>=1", "aws-lambda-powertools[tracer]==3.99.1"]\n')
    assert powertools.pinned_release(pyproject) == "3.99.1"
    pyproject.write_text('[project]\ndependencies = ["aws-lambda-powertools>=3"]\n')
    with pytest.raises(ValueError, match="pinned exactly"):
        powertools.pinned_release(pyproject)


def test_the_bundled_durable_sdk_is_the_one_pyproject_pins() -> None:
    pins = bundles.requirement_pins()
    assert pins["aws-durable-execution-sdk-python"] == version("aws-durable-execution-sdk-python")
    assert Version(pins["boto3"]) >= Version("1.43.114")  # the SDK's own floor
    assert "tzdata" in pins


def test_a_requirement_that_is_not_an_exact_pin_is_refused(tmp_path: Path) -> None:
    requirements = tmp_path / "r.txt"
    requirements.write_text("# comment\nboto3>=1.40\n")
    with pytest.raises(bundles.BundleError, match=re.escape("r.txt:2: 'boto3>=1.40' is not an exact pin")):
        bundles.requirement_pins(requirements)


def test_a_compiled_wheel_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requirements = tmp_path / "r.txt"
    requirements.write_text("fastpkg==1.0\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "fastpkg-1.0-cp313-cp313-manylinux2014_x86_64.whl").write_bytes(b"")
    monkeypatch.setattr(bundles, "fetch_wheels", lambda pins, cache=None: wheels)
    with pytest.raises(bundles.BundleError, match="not the pure-Python wheel"):
        bundles.dependency_files(requirements)


@pytest.mark.parametrize("region", regions.DURABLE_FUNCTION_REGIONS)
def test_regions_with_durable_functions_pass(region: str) -> None:
    regions.check_region(region)


def test_a_region_without_durable_functions_is_refused_naming_the_setting_and_the_list(
    tmp_path: Path,
) -> None:
    config = workshop_config.parse({"hub": {"region": "sa-east-1"}}, "test")
    with pytest.raises(regions.UnsupportedRegion) as refused:
        build(config, str(tmp_path))
    message = str(refused.value)
    assert message.startswith("hub.region: 'sa-east-1' has no Lambda durable functions")
    assert all(region in message for region in regions.DURABLE_FUNCTION_REGIONS)
    assert not any(tmp_path.iterdir()), "nothing is synthesized"
    # Confirmed by context (AWS launched them there since): accepted.
    regions.check_region("sa-east-1", {regions.CONFIRM_CONTEXT_KEY: "sa-east-1"})


def test_app_py_reports_the_region_as_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    settings = tmp_path / "workshop.yaml"
    settings.write_text("hub:\n  region: sa-east-1\n")
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        env=quiet_env(WORKSHOP_CONFIG=str(settings), CDK_OUTDIR=str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: hub.region: 'sa-east-1' has no Lambda durable functions" in result.stderr
    assert "Traceback" not in result.stderr

"""Powertools for AWS Lambda (Python): the functions attach the AWS-published layer of exactly the release
pyproject.toml pins, the one the tests run. The release is named in one place (pyproject.toml); the layer's
ARN is resolved at deploy time from the public SSM parameter AWS publishes per release
(``/aws/service/powertools/python/{arch}/{python}/{release}``, Powertools docs, "Lambda Layer").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_PIN = re.compile(r"^aws-lambda-powertools(?:\[[^\]]*\])?==([0-9][0-9A-Za-z.]*)$")


def pinned_release(pyproject: Path = PYPROJECT) -> str:
    """The exact aws-lambda-powertools release pyproject.toml's dependencies pin."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for requirement in dependencies:
        match = _PIN.fullmatch(requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise ValueError(f"{pyproject}: aws-lambda-powertools must be pinned exactly (==X.Y.Z)")


def layer_parameter(release: str, *, architecture: str = "arm64", python: str = "python3.13") -> str:
    """The public SSM parameter whose value is the layer ARN of ``release`` in the deploy's Region."""
    return f"/aws/service/powertools/python/{architecture}/{python}/{release}"

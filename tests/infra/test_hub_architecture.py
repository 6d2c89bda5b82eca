"""A deploy can never swap the hub's image for another architecture (which replaces the instance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from workshop_hub import config as workshop_config

from stacks.app_builder import build
from stacks.constructs.hub_instance import UBUNTU_AMI_PARAMETER, ArchitectureChange

pytestmark = pytest.mark.synth

ACCOUNT = "123456789012"


def deployed_with(arch: str, region: str) -> dict[str, Any]:
    """The context a deploy of an ``arch`` hub left in cdk.context.json."""
    parameter = UBUNTU_AMI_PARAMETER.format(arch=arch)
    return {
        f"ssm:account={ACCOUNT}:parameterName={parameter}:region={region}": "ami-0123456789abcdef0",
        f"availability-zones:account={ACCOUNT}:region={region}": [f"{region}a", f"{region}b"],
    }


@pytest.mark.parametrize(
    ("instance_type", "deployed"), [("t4g.large", "amd64"), ("a1.large", "amd64"), ("t3.large", "arm64")]
)
def test_another_architecture_than_deployed_is_refused(
    tmp_path: Path, instance_type: str, deployed: str
) -> None:
    config = workshop_config.parse({"hub": {"instance_type": instance_type}})
    with pytest.raises(ArchitectureChange) as raised:
        build(
            config,
            str(tmp_path),
            account=ACCOUNT,
            context=deployed_with(deployed, config.hub.region),
            checks=False,
        )
    message = str(raised.value)
    assert message.startswith(f"hub.instance_type: '{instance_type}' runs ")
    assert f"deployed with an {deployed} image" in message and "REPLACES the instance" in message


def test_the_same_architecture_builds(tmp_path: Path) -> None:
    config = workshop_config.parse({"hub": {"instance_type": "m7i.large"}})
    build(
        config,
        str(tmp_path),
        account=ACCOUNT,
        context=deployed_with("amd64", config.hub.region),
        checks=False,
    )


def test_a_first_deploy_has_nothing_to_compare(tmp_path: Path) -> None:
    config = workshop_config.parse({"hub": {"instance_type": "t4g.large"}})
    build(config, str(tmp_path), checks=False)  # offline: no account, no cached image

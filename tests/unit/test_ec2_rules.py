"""ec2_rules: architectures (checked against CDK's own rule) and the EBS modification limits, by tables."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from workshop_hub.ec2_rules import (
    UnknownArchitecture,
    VolumeModification,
    architecture,
    architecture_mismatch,
    volume_change_check,
)

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("t3.medium", "x86_64"),
        ("t3a.large", "x86_64"),
        ("m7i.2xlarge", "x86_64"),
        ("g4dn.xlarge", "x86_64"),  # family g (GPU), capabilities dn: Intel
        ("p5en.48xlarge", "x86_64"),
        ("t4g.large", "arm64"),
        ("m7g.medium", "arm64"),
        ("c6gn.large", "arm64"),
        ("x2gd.xlarge", "arm64"),
        ("g5g.xlarge", "arm64"),
        ("hpc7g.4xlarge", "arm64"),
        ("im4gn.large", "arm64"),
        ("a1.large", "arm64"),  # the first Graviton: family a, no g
        ("a1.metal", "arm64"),
    ],
)
def test_architecture(instance_type: str, expected: str) -> None:
    assert architecture(instance_type) == expected


def test_an_unparseable_type_has_no_architecture() -> None:
    with pytest.raises(UnknownArchitecture, match="cannot tell its architecture"):
        architecture("u-6tb1.metal")


def test_architecture_is_cdks_for_every_instance_class_cdk_knows() -> None:
    from aws_cdk import aws_ec2 as ec2

    named = {ec2.InstanceArchitecture.ARM_64: "arm64", ec2.InstanceArchitecture.X86_64: "x86_64"}
    seen: dict[str, str | None] = {}
    for instance_class in ec2.InstanceClass:
        instance_type = ec2.InstanceType.of(instance_class, ec2.InstanceSize.LARGE).to_string()
        try:
            cdks: str | None = named[ec2.InstanceType(instance_type).architecture]
        except Exception:  # CDK cannot parse it (MalformedInstanceTypeIdentifier): ours must refuse too
            cdks = None
        try:
            ours: str | None = architecture(instance_type)
        except UnknownArchitecture:
            ours = None
        assert ours == cdks, instance_type
        seen[instance_type] = ours
    # CDK knows a few hundred types of both kinds; an empty or one-sided loop would prove nothing
    assert len(seen) > 150
    assert seen["a1.large"] == "arm64" and seen["t4g.large"] == "arm64" and seen["t3.large"] == "x86_64"
    assert sum(1 for a in seen.values() if a == "arm64") > 20


def test_architecture_mismatch_says_why() -> None:
    assert architecture_mismatch("t3.xlarge", "t3.medium") is None
    assert architecture_mismatch("m7g.large", "t4g.medium") is None
    reason = architecture_mismatch("t4g.large", "t3.medium")
    assert reason is not None and "is arm64 but the hub (t3.medium) is x86_64" in reason
    reason = architecture_mismatch("a1.large", "m5.large")
    assert reason is not None and "arm64" in reason
    assert "cannot tell its architecture" in (architecture_mismatch("u-6tb1.metal", "t3.medium") or "")


NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def mod(hours_ago: float, state: str = "completed") -> VolumeModification:
    return VolumeModification(state=state, started_at=NOW - dt.timedelta(hours=hours_ago))


@pytest.mark.parametrize(
    ("history", "allowed", "possible_in_hours", "reason"),
    [
        ([], True, None, ""),
        ([mod(1)], True, None, ""),  # completed an hour ago: the old 6-hour rule would refuse this
        ([mod(0.2, "modifying")], False, None, "is still modifying"),
        ([mod(3, "optimizing")], False, None, "is still optimizing"),
        ([mod(3, "optimizing"), mod(5)], False, None, "is still optimizing"),
        ([mod(1, "failed")], True, None, ""),  # a failed change does not block the next one
        ([mod(1), mod(2), mod(3)], True, None, ""),
        ([mod(1), mod(2), mod(3), mod(4)], False, 20, "4 times in the last 24 hours"),
        ([mod(1), mod(2), mod(3), mod(23.5)], False, 0.5, "possible from 2026-12-01T12:30:00Z"),
        ([mod(1), mod(2), mod(3), mod(24)], True, None, ""),  # exactly 24 h ago: out of the window
        ([mod(1), mod(2), mod(3), mod(30), mod(40)], True, None, ""),
        ([mod(1, "failed"), mod(2), mod(3), mod(4)], False, 20, "4 times"),  # failed ones count
        # the same modification twice (EC2's answer and the control plane's record) counts once, and
        # its most advanced state wins
        ([mod(1), mod(1, "modifying"), mod(2), mod(3)], True, None, ""),
    ],
)
def test_volume_change_check(
    history: list[VolumeModification], allowed: bool, possible_in_hours: float | None, reason: str
) -> None:
    check = volume_change_check(history, NOW)
    assert check.allowed is allowed
    assert reason in check.reason
    if possible_in_hours is None:
        assert check.possible_at is None
    else:
        assert check.possible_at == NOW + dt.timedelta(hours=possible_in_hours)

"""hubctl snapshots against moto's EC2: the hub's snapshots by tag, newest first, nightly or pre-grow."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from hubctl import snapshots
from hubctl.cli import app


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HUBCTL_SANDBOX", raising=False)
    with mock_aws():
        yield boto3.client("ec2", region_name="eu-west-1")


def snapshot(ec2, volume_id: str, tags: dict[str, str]) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    made = ec2.create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list}]
    )
    return str(made["SnapshotId"])


def test_lists_the_hubs_snapshots_only(aws, tmp_path, monkeypatch):
    volume = aws.create_volume(AvailabilityZone="eu-west-1a", Size=30)["VolumeId"]
    hub = {snapshots.TAG_KEY: "workshop-hub"}
    nightly = snapshot(aws, volume, {**hub, snapshots.BACKUP_TAG: "workshop-hub"})
    pre_grow = snapshot(aws, volume, {**hub, snapshots.REASON_TAG: "pre-grow"})
    snapshot(aws, volume, {snapshots.TAG_KEY: "another-hub", snapshots.BACKUP_TAG: "another-hub"})
    aws.create_snapshot(VolumeId=volume)  # untagged: someone else's

    (tmp_path / "workshop.yaml").write_text("hub:\n  name: workshop-hub\n  region: eu-west-1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["-o", "json", "snapshots"])
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["snapshots"]
    assert {row["snapshot_id"]: row["kind"] for row in found} == {nightly: "nightly", pre_grow: "pre-grow"}
    assert all(row["size_gib"] == 30 and row["volume_id"] == volume for row in found)
    assert [row["started"] for row in found] == sorted((row["started"] for row in found), reverse=True)

    text = CliRunner().invoke(app, ["snapshots"])
    assert text.exit_code == 0 and nightly in text.stdout and "2 snapshots of workshop-hub" in text.stdout


def test_no_snapshots_yet_says_when_the_first_comes(aws, tmp_path, monkeypatch):
    (tmp_path / "workshop.yaml").write_text("hub:\n  name: empty-hub\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["snapshots"])
    assert result.exit_code == 0 and "no snapshots yet" in result.stdout


def test_the_tags_are_the_stacks_and_the_workers():
    from workshop_hub.kinds.volume import SNAPSHOT_TAGS

    from stacks.constructs.hub_backups import BACKUP_TAG
    from stacks.hub_stack import TAG_KEY

    assert (snapshots.TAG_KEY, snapshots.BACKUP_TAG) == (TAG_KEY, BACKUP_TAG)
    assert (snapshots.TAG_KEY, snapshots.REASON_TAG) == SNAPSHOT_TAGS

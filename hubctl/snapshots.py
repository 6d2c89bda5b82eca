"""``hubctl snapshots``: the hub's disk snapshots, newest first (EC2 DescribeSnapshots by tag).

The nightly ones come from the hub stack's Data Lifecycle Manager policy (tagged
``workshop-hub:backup``); a disk grow takes one first (tagged ``workshop-hub:reason=pre-grow``). Both carry
the hub's tag ``workshop-hub:hub = <hub.name>``. On AWS this asks EC2 with your credentials; with
``--sandbox`` it asks the sandbox's moto server.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from hubctl.discovery import Target
from hubctl.errors import AuthError, HubctlError, Unreachable

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# The hub stack's tags (stacks/hub_stack.py TAG_KEY, stacks/constructs/hub_backups.py BACKUP_TAG).
TAG_KEY = "workshop-hub:hub"
BACKUP_TAG = "workshop-hub:backup"
REASON_TAG = "workshop-hub:reason"


def kind(tags: dict[str, str]) -> str:
    if BACKUP_TAG in tags:
        return "nightly"
    return tags.get(REASON_TAG, "other")


def hub_snapshots(target: Target) -> list[dict[str, Any]]:
    """The snapshots of the hub ``target`` names: EC2 with your credentials, or the sandbox's moto."""
    return list_snapshots(target.aws_client("ec2"), target.config.hub.name)


def list_snapshots(ec2: EC2Client, hub_name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        pages = ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [hub_name]}]
        )
        for page in pages:
            for snap in page.get("Snapshots", []):
                tags = {t["Key"]: t["Value"] for t in snap.get("Tags", [])}
                rows.append(
                    {
                        "snapshot_id": snap["SnapshotId"],
                        "started": snap["StartTime"].isoformat(timespec="seconds"),
                        "state": snap.get("State", ""),
                        "progress": snap.get("Progress", ""),
                        "size_gib": snap.get("VolumeSize"),
                        "kind": kind(tags),
                        "volume_id": snap.get("VolumeId", ""),
                    }
                )
    except NoCredentialsError:
        raise AuthError(
            "no AWS credentials to list the snapshots", "aws sso login, or set AWS_PROFILE"
        ) from None
    except EndpointConnectionError as err:
        raise Unreachable(f"EC2 cannot be reached: {err}") from None
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("UnauthorizedOperation", "AuthFailure", "ExpiredToken"):
            raise AuthError(
                f"EC2 refused DescribeSnapshots: {code}", "your identity needs ec2:DescribeSnapshots"
            ) from None
        raise HubctlError(f"EC2 DescribeSnapshots failed: {err}") from None
    rows.sort(key=lambda row: row["started"], reverse=True)
    return rows


def for_people(rows: list[dict[str, Any]], tz: dt.tzinfo = dt.UTC) -> list[dict[str, Any]]:
    """The columns a person needs, narrow enough for an 80-column terminal; times in ``tz``."""
    return [
        {
            "snapshot": row["snapshot_id"],
            "started": dt.datetime.fromisoformat(row["started"]).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            "kind": row["kind"],
            "GiB": row["size_gib"],
            "state": row["state"],
        }
        for row in rows
    ]

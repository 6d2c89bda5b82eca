"""What EC2 and EBS refuse, decided without AWS: instance-type architectures and the EBS
modification limits. Pure (no boto3, no aws_cdk: the Lambda functions use it), tested by tables.

* ``architecture(t)`` is CDK's own rule (``aws_cdk.aws_ec2.InstanceType(t).architecture``, checked
  against it for every instance class CDK knows in tests/unit/test_ec2_rules.py): an instance type
  runs arm64 images when its family is ``a`` (``a1.*``) or its capabilities hold a ``g`` (t4g, m7g,
  c6gn, x2gd, hpc7g, ...); every other type runs x86_64 images. A type change never crosses
  architectures: the hub's image is one or the other.
* ``volume_change_check(modifications, now)`` is the ModifyVolume rule AWS documents today (boto3
  ``modify_volume``): the previous modification must be ``completed``, and a volume takes up to four
  modifications in a rolling 24 hours. EC2's own refusal stays the truth; this only avoids work
  (a snapshot) that EC2 would make useless.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Architecture = Literal["x86_64", "arm64"]

# CDK's parse of an instance type: family, generation, capabilities, size (aws-ec2/lib/instance-types.ts).
_TYPE = re.compile(r"^([a-z]+)(\d{1,2})([a-z\-]*)\.([a-z0-9\-]+)$")


class UnknownArchitecture(ValueError):
    """The instance type is not shaped like ``family generation capabilities . size`` (e.g. u-6tb1.metal)."""


def architecture(instance_type: str) -> Architecture:
    """``"arm64"`` or ``"x86_64"``: the images ``instance_type`` runs. Raises UnknownArchitecture."""
    match = _TYPE.match(instance_type)
    if match is None:
        raise UnknownArchitecture(
            f"{instance_type!r}: cannot tell its architecture (expected family, generation, capabilities "
            "and size, such as 't3.medium' or 'm7g.large')"
        )
    family, capabilities = match.group(1), match.group(3)
    return "arm64" if family == "a" or "g" in capabilities else "x86_64"


def architecture_mismatch(instance_type: str, hub_instance_type: str) -> str | None:
    """Why ``instance_type`` cannot replace ``hub_instance_type`` (None when it can): the rule, for a message
    that starts with the field and the value."""
    try:
        wanted = architecture(instance_type)
    except UnknownArchitecture as err:
        return str(err).split(": ", 1)[1]
    have = architecture(hub_instance_type)
    if wanted == have:
        return None
    return (
        f"is {wanted} but the hub ({hub_instance_type}) is {have}: a type change cannot cross architectures "
        f"(the hub's image is {have}); choose a {have} type"
    )


# --- EBS ModifyVolume --------------------------------------------------------------------------

MAX_CHANGES = 4
ROLLING_WINDOW = dt.timedelta(hours=24)
IN_PROGRESS = ("modifying", "optimizing")


@dataclass(frozen=True)
class VolumeModification:
    """One modification of a volume, as DescribeVolumesModifications reports it (or as the control plane
    recorded it: EC2 only reports the most recent one)."""

    state: str  # modifying | optimizing | completed | failed
    started_at: dt.datetime  # aware
    target_size_gib: int | None = None
    ended_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a durable step's result, a record in the store)."""
        return {
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "target_size_gib": self.target_size_gib,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VolumeModification:
        ended = data.get("ended_at")
        return cls(
            state=str(data["state"]),
            started_at=dt.datetime.fromisoformat(str(data["started_at"])),
            target_size_gib=data.get("target_size_gib"),
            ended_at=dt.datetime.fromisoformat(str(ended)) if ended else None,
        )


@dataclass(frozen=True)
class VolumeChangeCheck:
    """``allowed``, or refused with the ``reason`` (a sentence) and when it becomes possible (None: unknown,
    e.g. while the previous change is still optimizing)."""

    allowed: bool
    reason: str = ""
    possible_at: dt.datetime | None = None


ALLOWED = VolumeChangeCheck(allowed=True)


def volume_change_check(modifications: Iterable[VolumeModification], now: dt.datetime) -> VolumeChangeCheck:
    """Whether EBS takes another modification of the volume at ``now``.

    ``modifications``: every modification known, in any order, duplicates allowed (EC2's latest and the
    control plane's own records of its grows). Failed ones count against the four a day (the limit counts
    modifications, not successful ones) but do not block the next one.
    """
    known = _latest_states(modifications)
    busy = next((m for m in known if m.state in IN_PROGRESS), None)
    if busy is not None:
        return VolumeChangeCheck(
            allowed=False,
            reason=(
                f"the volume's previous change (started {_iso(busy.started_at)}) is still {busy.state}; "
                "EBS takes the next change once it is completed (optimizing can take hours on a large volume)"
            ),
        )
    recent = [m.started_at for m in known if m.started_at > now - ROLLING_WINDOW]
    if len(recent) >= MAX_CHANGES:
        possible = recent[MAX_CHANGES - 1] + ROLLING_WINDOW
        return VolumeChangeCheck(
            allowed=False,
            reason=(
                f"the volume was changed {len(recent)} times in the last 24 hours (EBS allows {MAX_CHANGES} in a "
                f"rolling 24 hours); the next change is possible from {_iso(possible)}"
            ),
            possible_at=possible,
        )
    return ALLOWED


_PROGRESS = {"modifying": 0, "optimizing": 1, "completed": 2, "failed": 2}


def _latest_states(modifications: Iterable[VolumeModification]) -> list[VolumeModification]:
    """One entry per modification (its start time), newest first, in its most advanced state: states only
    move forward, so a record saying 'modifying' and EC2 saying 'completed' mean 'completed'."""
    by_start: dict[dt.datetime, VolumeModification] = {}
    for mod in modifications:
        seen = by_start.get(mod.started_at)
        if seen is None or _PROGRESS.get(mod.state, 0) > _PROGRESS.get(seen.state, 0):
            by_start[mod.started_at] = mod
    return sorted(by_start.values(), key=lambda m: m.started_at, reverse=True)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

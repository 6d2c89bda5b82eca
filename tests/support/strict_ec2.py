"""A strict EC2: a moto EC2 client that refuses what AWS refuses, and faults on demand.

moto accepts what AWS does not. ``StrictEc2`` installs botocore event handlers on a moto client (the
client itself, so waiters and every adapter that holds it go through them) and makes it answer as
EC2 does where that matters to the hub:

* ``DescribeVolumesModifications(VolumeIds=[v])`` on a volume never modified raises
  ``InvalidVolumeModification.NotFound`` (moto answers []); with ``Filters`` it answers [], and, as on
  AWS, only the MOST RECENT modification of each volume (moto lists them all).
* ``ModifyInstanceAttribute(InstanceType)`` raises ``IncorrectInstanceState`` unless the instance is
  stopped, and ``InvalidParameterValue`` for a type of another architecture than the instance's
  (its image's).
* ``ModifyVolume`` raises ``IncorrectModificationState`` while the volume's latest modification is not
  ``completed`` and ``VolumeModificationRateExceeded`` for a fifth modification in a rolling 24 hours
  (by ``clock``).
* ``StartInstances`` raises ``Unsupported`` when the instance's type is not offered in its zone
  (see ``not_offered``), as ``DescribeInstanceTypeOfferings`` then also says.

Faults for the fault suite (each until ``reset()`` unless it says "next"):

    strict = StrictEc2(ec2)                       # ec2: a boto3 EC2 client inside mock_aws / on moto_server
    strict.fail_next_start("InsufficientInstanceCapacity")   # or "Unsupported"; times=2 for two starts
    strict.never_running()                        # StartInstances accepted; the instance shows 'pending' forever
    strict.not_offered("t3.xlarge")               # absent from offerings; starting that type: Unsupported
    strict.fail_next_modify_volume("IncorrectModificationState")  # or "VolumeModificationRateExceeded"
    strict.hold_volume_modification("optimizing") # modifications stay in that state (no next change)
    strict.fail_next("ModifyInstanceAttribute", "Unsupported")    # any operation, any code
    strict.calls                                  # [(operation name, params), ...] that reached EC2
    strict.reset()                                # faults off (the strict rules stay)

Time (the 24-hour window, modification start times) comes from ``clock`` (aware UTC datetimes).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from workshop_hub.ec2_rules import MAX_CHANGES, ROLLING_WINDOW, UnknownArchitecture, architecture

NOT_FOUND = "InvalidVolumeModification.NotFound"


@dataclass
class _Modification:
    volume_id: str
    started_at: dt.datetime
    target_size: int
    original_size: int


@dataclass
class StrictEc2:
    client: Any
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: dict[str, list[str]] = {}
        self._never_running = False
        self._not_offered: set[str] = set()
        self._held_state: str | None = None
        self._modifications: list[_Modification] = []
        self._local = threading.local()
        events = self.client.meta.events
        events.register_first("before-parameter-build.ec2", self._before)
        events.register("after-call.ec2.DescribeInstances", self._after_describe_instances)
        events.register("after-call.ec2.DescribeVolumesModifications", self._after_describe_modifications)
        events.register("after-call.ec2.DescribeInstanceTypeOfferings", self._after_offerings)
        events.register("after-call.ec2.ModifyVolume", self._after_modify_volume)

    # --- faults ------------------------------------------------------------------------------

    def fail_next(self, operation: str, code: str, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (e.g. "StartInstances") raise ``code``."""
        self._faults.setdefault(operation, []).extend([code] * times)

    def fail_next_start(self, code: str = "InsufficientInstanceCapacity", times: int = 1) -> None:
        self.fail_next("StartInstances", code, times)

    def fail_next_modify_volume(self, code: str = "IncorrectModificationState", times: int = 1) -> None:
        self.fail_next("ModifyVolume", code, times)

    def never_running(self, on: bool = True) -> None:
        """Starts are accepted, but the instance never shows 'running' (it stays 'pending')."""
        self._never_running = on

    def not_offered(self, *instance_types: str) -> None:
        self._not_offered.update(instance_types)

    def hold_volume_modification(self, state: str | None = "optimizing") -> None:
        """Modifications report ``state`` instead of moto's immediate 'completed' (None: release)."""
        self._held_state = state

    def reset(self) -> None:
        self._faults.clear()
        self._never_running = False
        self._not_offered.clear()
        self._held_state = None

    # --- the handlers ------------------------------------------------------------------------

    @contextmanager
    def _raw(self) -> Iterator[None]:
        """Calls the fake makes itself pass through untouched."""
        self._local.raw = True
        try:
            yield
        finally:
            self._local.raw = False

    def _is_raw(self) -> bool:
        return bool(getattr(self._local, "raw", False))

    def _refuse(self, operation: str, code: str, message: str) -> ClientError:
        error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return ClientError(error, operation)  # type: ignore[arg-type]

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._is_raw():
            return
        operation = model.name
        queued = self._faults.get(operation)
        if queued:
            code = queued.pop(0)
            raise self._refuse(operation, code, f"injected by StrictEc2: {code}")
        check = getattr(self, f"_check_{operation}", None)
        if check is not None:
            check(params)
        self.calls.append((operation, dict(params)))

    def _instance(self, instance_id: str) -> dict[str, Any]:
        with self._raw():
            answer = self.client.describe_instances(InstanceIds=[instance_id])
        instance: dict[str, Any] = answer["Reservations"][0]["Instances"][0]
        return instance

    def _check_ModifyInstanceAttribute(self, params: dict[str, Any]) -> None:
        wanted = (params.get("InstanceType") or {}).get("Value")
        if not wanted:
            return
        instance = self._instance(params["InstanceId"])
        state = instance["State"]["Name"]
        if state != "stopped":
            raise self._refuse(
                "ModifyInstanceAttribute",
                "IncorrectInstanceState",
                f"The instance '{params['InstanceId']}' is not in the 'stopped' state.",
            )
        have = architecture(instance["InstanceType"])
        try:
            new = architecture(wanted)
        except UnknownArchitecture:
            new = have
        if new != have:
            raise self._refuse(
                "ModifyInstanceAttribute",
                "InvalidParameterValue",
                f"The architecture '{new}' of the specified instance type does not match the architecture "
                f"'{have}' of the specified AMI.",
            )

    def _check_StartInstances(self, params: dict[str, Any]) -> None:
        for instance_id in params.get("InstanceIds", []):
            instance = self._instance(instance_id)
            if instance["InstanceType"] in self._not_offered:
                zone = instance.get("Placement", {}).get("AvailabilityZone", "")
                raise self._refuse(
                    "StartInstances",
                    "Unsupported",
                    f"Your requested instance type ({instance['InstanceType']}) is not supported in your "
                    f"requested Availability Zone ({zone}).",
                )

    def _check_DescribeVolumesModifications(self, params: dict[str, Any]) -> None:
        for volume_id in params.get("VolumeIds", []):
            if not any(m.volume_id == volume_id for m in self._modifications):
                raise self._refuse(
                    "DescribeVolumesModifications",
                    NOT_FOUND,
                    f"Modification for volume '{volume_id}' does not exist.",
                )

    def _check_ModifyVolume(self, params: dict[str, Any]) -> None:
        volume_id = params["VolumeId"]
        mine = [m for m in self._modifications if m.volume_id == volume_id]
        if mine and self._state_of(mine[-1]) != "completed":
            raise self._refuse(
                "ModifyVolume",
                "IncorrectModificationState",
                f"Cannot modify volume {volume_id} as it is currently in modification state "
                f"'{self._state_of(mine[-1])}'.",
            )
        now = self.clock()
        recent = [m for m in mine if m.started_at > now - ROLLING_WINDOW]
        if len(recent) >= MAX_CHANGES:
            possible = recent[-MAX_CHANGES].started_at + ROLLING_WINDOW
            raise self._refuse(
                "ModifyVolume",
                "VolumeModificationRateExceeded",
                f"You've reached the maximum modification rate per volume limit. Wait until "
                f"{possible.isoformat()} to modify volume {volume_id} again.",
            )

    def _state_of(self, modification: _Modification) -> str:
        return self._held_state or "completed"

    def _after_modify_volume(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._is_raw() or "VolumeModification" not in parsed:
            return
        raw = parsed["VolumeModification"]
        mod = _Modification(
            raw["VolumeId"], self.clock(), int(raw.get("TargetSize", 0)), int(raw.get("OriginalSize", 0))
        )
        self._modifications.append(mod)
        raw.update(self._shown(mod))

    def _shown(self, mod: _Modification) -> dict[str, Any]:
        state = self._state_of(mod)
        shown: dict[str, Any] = {
            "VolumeId": mod.volume_id,
            "ModificationState": state,
            "StartTime": mod.started_at,
            "TargetSize": mod.target_size,
            "OriginalSize": mod.original_size,
            "Progress": 100 if state == "completed" else 50,
        }
        if state == "completed":
            shown["EndTime"] = mod.started_at
        return shown

    def _after_describe_modifications(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._is_raw():
            return
        # AWS reports only the most recent modification of each volume.
        wanted = {m["VolumeId"] for m in parsed.get("VolumesModifications", [])}
        latest: dict[str, _Modification] = {}
        for mod in self._modifications:
            if mod.volume_id in wanted:
                latest[mod.volume_id] = mod
        parsed["VolumesModifications"] = [self._shown(m) for m in latest.values()]

    def _after_describe_instances(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._is_raw() or not self._never_running:
            return
        for reservation in parsed.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                if instance["State"]["Name"] == "running":
                    instance["State"] = {"Code": 0, "Name": "pending"}

    def _after_offerings(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._is_raw():
            return
        parsed["InstanceTypeOfferings"] = [
            o
            for o in parsed.get("InstanceTypeOfferings", [])
            if o.get("InstanceType") not in self._not_offered
        ]

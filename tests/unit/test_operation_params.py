"""Request parameters, checked by each kind's params model: each refusal names the field and the rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from workshop_hub.errors import Conflict, InvalidRequest
from workshop_hub.kinds.params import Context
from workshop_hub.kinds.registry import named
from workshop_hub.operations import Operation, new_operation_id

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def parse_params(kind: str, params: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What the operation records, as ControlPlane.submit checks it (a t3.medium hub)."""
    return named(kind).parse(params, Context(now=now, hub_instance_type="t3.medium"))


@pytest.mark.parametrize(
    ("kind", "params", "field", "rule"),
    [
        ("users-add", {"usernames": ["ok", "Bad Name"]}, "usernames[1]", "is not a valid hub user name"),
        ("users-add", {"usernames": []}, "usernames", "must be a non-empty list"),
        ("users-add", {"usernames": [f"u{i}" for i in range(201)]}, "usernames", "at most 200 entries"),
        ("users-add", {"usernames": ["a"], "admin": "yes"}, "admin", "must be true or false"),
        ("users-remove", {}, "username", "is required"),
        ("resize", {"instance_type": "huge"}, "instance_type", "is not an EC2 instance type"),
        ("grow", {"size_gib": 0}, "size_gib", "whole number of GiB up to 16384"),
        ("grow", {"size_gib": True}, "size_gib", "whole number of GiB"),
        ("data-sync", {"name": "../etc", "repo": "https://h.org/r"}, "name", "is not a valid data name"),
        ("data-sync", {"name": "d", "repo": "file:///etc"}, "repo", "is not an allowed git URL"),
        (
            "data-sync",
            {"name": "d", "repo": "https://h.org/r", "ref": "--upload-pack=x"},
            "ref",
            "is not a valid git ref",
        ),
        # No ref is the repo's default branch; an empty one is refused (the API always refused it).
        ("data-sync", {"name": "d", "repo": "https://h.org/r", "ref": ""}, "ref", "must not be empty"),
        (
            "packages",
            {"packages": ["-e git+https://evil"]},
            "packages[0]",
            "is not an allowed pip requirement",
        ),
        ("packages", {"packages": ["x"], "manager": "apt"}, "manager", "must be 'pip' or 'conda'"),
        ("keep-awake", {"until": "tomorrow"}, "until", "is not an ISO 8601 date and time"),
        ("keep-awake", {"until": "2026-12-03T23:00"}, "until", "must say its time zone"),
        ("keep-awake", {"until": "2027-12-03T23:00Z"}, "until", "at most 90 days ahead"),
        ("stop", {"force": 1}, "force", "must be true or false"),
        ("stop", {"forse": True}, "forse", "is not a known field of stop (fields: force)"),
        ("teleport", {}, "kind", "is not an operation"),  # not "reboot": the docs' example of a kind to add
    ],
)
def test_refusals_name_the_field_and_the_rule(
    kind: str, params: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_params(kind, params, NOW)
    assert raised.value.field == field
    assert rule in raised.value.rule
    assert str(raised.value).startswith(f"{field}:")


def test_good_params_are_normalized() -> None:
    assert parse_params("users-add", {"usernames": ["a", "b", "a"]}, NOW) == {
        "usernames": ["a", "b"],
        "admin": False,
    }
    assert parse_params("stop", {}, NOW) == {"force": False}
    assert parse_params("keep-awake", {"until": "2026-12-03T23:00+01:00"}, NOW) == {
        "until": "2026-12-03T22:00:00.000Z"
    }
    assert parse_params("data-sync", {"name": "d", "repo": "https://h.org/r"}, NOW)["ref"] is None
    assert parse_params("packages", {"packages": ["gdal=3.9"], "manager": "conda"}, NOW)["manager"] == "conda"


def test_operations_round_trip_and_ids_sort_by_time() -> None:
    op = Operation(id=new_operation_id(NOW), kind="start", params={}, created_at="2026-12-01T12:00:00Z")
    assert Operation.from_dict(op.to_dict()) == op
    later = new_operation_id(NOW + dt.timedelta(milliseconds=1))
    assert op.id < later


def test_conflict_names_the_operation_in_progress() -> None:
    assert "resize operation op-1 is in progress" in str(Conflict("op-1", "resize"))

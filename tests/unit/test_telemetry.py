"""The metrics the worker emits are the ones the alarm watches (same name, namespace and dimensions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from workshop_hub.operations import Operation

from stacks.constructs.control_functions import service_name


@pytest.fixture
def emitted(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service_name("worker"))
    from handlers import telemetry

    def run(op: Operation) -> list[dict[str, Any]]:
        capsys.readouterr()
        telemetry.record(op)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return [line for line in lines if "_aws" in line]

    return run


def _op(state: str) -> Operation:
    return Operation.from_dict(
        {
            "id": "op-1",
            "kind": "resize",
            "params": {},
            "state": state,
            "steps": [],
            "created_at": "2026-12-03T08:00:00.000Z",
            "started_at": "2026-12-03T08:00:00.000Z",
            "ended_at": "2026-12-03T08:03:00.000Z",
        }
    )


def test_a_failed_operation_counts_by_kind_and_by_service_alone(emitted) -> None:
    metrics = emitted(_op("failed"))
    failed = [m for m in metrics if "OperationFailed" in m]
    dimension_sets = sorted(tuple(m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for m in failed)
    assert dimension_sets == [("kind", "service"), ("service",)]
    assert all(m["OperationFailed"] == [1.0] and m["service"] == "workshop-hub-worker" for m in failed)
    assert {m["_aws"]["CloudWatchMetrics"][0]["Namespace"] for m in failed} == {"WorkshopHub"}
    (duration,) = [m for m in metrics if "OperationDuration" in m]
    assert duration["OperationDuration"] == [180.0]


def test_a_queued_operation_is_not_counted(emitted) -> None:
    assert emitted(_op("queued")) == []

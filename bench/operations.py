"""Each control-plane operation's step timings against moto (mock_aws, in-process) and a fake hub.

These are the control plane's own costs (DynamoDB records, EC2/EBS API calls, waiters that match at
once). Real EC2 adds the instance's own time: see the numbers printed at the end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from moto import mock_aws
from workshop_hub.operations import Operation
from workshop_hub.times import parse_time, utcnow

from tests.support.hub_world import build_world


def show(op: Operation, wall_s: float) -> None:
    print(f"{op.kind:<14} {op.state:<10} total {wall_s * 1000:7.1f} ms  ({len(op.steps)} steps)")
    for step in op.steps:
        took = (
            (parse_time(step.ended_at) - parse_time(step.started_at)).total_seconds() if step.ended_at else 0
        )
        print(f"    {step.name:<58} {took * 1000:7.1f} ms ")


def main() -> None:
    with mock_aws():
        world = build_world()
        # Real time for the steps, so each one shows what it cost here.
        world.services.clock = utcnow
        runs: list[tuple[str, dict[str, object]]] = [
            ("users-add", {"usernames": [f"user{i:03d}" for i in range(100)]}),
            ("data-sync", {"name": "workshopdata"}),
            ("packages", {"packages": ["geopandas==1.0.1"]}),
            ("resize", {"instance_type": "t3.xlarge"}),
            ("grow", {"size_gib": 40}),
            ("stop", {"force": True}),
            ("users-add", {"usernames": ["late"]}),
            ("start", {}),
            ("reconcile", {}),
            ("reconcile", {}),
        ]
        for kind, params in runs:
            began = time.perf_counter()
            op = world.plane.submit(kind, params)
            show(op, time.perf_counter() - began)
    print(
        "\nReal EC2 adds (AWS docs and common figures): stop 30-90 s; start to 'running' 15-60 s, then boot and "
        "the SSM agent's registration about 1 min and the hub's start; a resize is stop + start (2-4 min); "
        "EBS modify reaches 'optimizing' in seconds to minutes; each SSM Run Command round trip 1-3 s."
    )


if __name__ == "__main__":
    main()

"""hubctl status --cost: this month so far from the agent's running hours, priced by the schedule."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws
from workshop_hub import config as workshop_config

from hubctl import cost
from hubctl.plan import prices

UTC = dt.UTC
CONFIG = workshop_config.parse(
    {
        "hub": {"name": "geo", "region": "us-east-1", "instance_type": "t3.medium", "volume_gib": 40},
        "schedule": {"timezone": "Europe/Berlin"},
        "sessions": [{"date": "2026-12-03", "start": "09:00", "end": "17:00", "instance_type": "t3.2xlarge"}],
    }
)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (dt.datetime(2026, 12, 3, 7, 30, tzinfo=UTC), "t3.2xlarge"),  # 08:30 Berlin: preparation
        (dt.datetime(2026, 12, 3, 7, 29, tzinfo=UTC), "t3.medium"),  # before it
        (dt.datetime(2026, 12, 3, 15, 59, tzinfo=UTC), "t3.2xlarge"),  # 16:59 Berlin
        (dt.datetime(2026, 12, 3, 16, 0, tzinfo=UTC), "t3.medium"),  # 17:00 Berlin: ended
        (dt.datetime(2026, 12, 4, 10, 0, tzinfo=UTC), "t3.medium"),
    ],
)
def test_the_type_the_schedule_runs_at(when, expected):
    assert cost.type_at(CONFIG, when) == expected


def test_estimate_prices_running_hours_and_idle():
    now = dt.datetime(2026, 12, 3, 20, 0, tzinfo=UTC)

    def periods(start: dt.datetime, minutes: int) -> list[dt.datetime]:
        return [start + dt.timedelta(minutes=m) for m in range(0, minutes, 5)]

    running = [
        *periods(dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC), 60),  # last month: not counted
        *periods(dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC), 90),  # an hour and a half at t3.medium
        *periods(dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC), 60),  # a session hour at t3.2xlarge
        dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC),  # the same period twice counts once
    ]
    book = prices.from_table("us-east-1")
    month = cost.estimate(CONFIG, running, now, book)
    assert month.since == dt.datetime(2026, 12, 1, tzinfo=UTC)
    assert month.running_hours == pytest.approx(2.5)
    assert month.instance_usd == pytest.approx(1.5 * 0.0416 + 1 * 0.3328)
    elapsed = 2 * 24 + 20
    assert month.idle_usd == pytest.approx(elapsed * (0.005 + 0.08 * 40 / 730))
    assert month.as_dict()["total_usd"] == round(month.instance_usd + month.idle_usd, 2)


def test_month_so_far_reads_the_agents_metric_from_cloudwatch(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    now = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        start = now - dt.timedelta(hours=2)
        if start < cost.month_start(now):
            pytest.skip("the first two hours of a month")
        # one sample a minute for an hour, as the agent sends while the hub runs, and each twice
        for minute in [*range(60), *range(60)]:
            cloudwatch.put_metric_data(
                Namespace=cost.metrics_namespace("geo"),
                MetricData=[
                    {
                        "MetricName": cost.METRIC,
                        "Timestamp": start + dt.timedelta(minutes=minute),
                        "Value": 40.0,
                        "Unit": "Percent",
                    }
                ],
            )
        found = cost.month_so_far(CONFIG, cloudwatch, now=now)
    assert found["running_hours"] == pytest.approx(1.0)
    assert found["prices"].startswith("table of")
    assert found["total_usd"] > found["instance_usd"] > 0


def test_without_prices_for_the_region_it_says_so():
    other = workshop_config.parse({"hub": {"region": "ap-south-2"}})
    assert cost.month_so_far(other, object()) == {"error": "no shipped prices for ap-south-2"}


def test_the_namespace_and_metric_are_the_agents():
    pytest.importorskip("aws_cdk")
    from stacks.constructs.hub_monitoring import MEMORY_METRIC, namespace

    assert cost.metrics_namespace("geo") == namespace("geo") and cost.METRIC == MEMORY_METRIC

"""``hubctl status --cost``: this month's cost so far, estimated from the hub's running hours.

The running hours come from the CloudWatch agent's ``mem_used_percent`` (a sample a minute while the hub
runs): the 5-minute periods that hold any sample, each counted as 5 minutes (5-minute data is kept 63
days, so a whole month is there; counting periods, not samples, is immune to a metric sent twice). Each running hour is priced at the session's type when a session
(with its preparation) covers it, else at hub.instance_type, from the shipped price table; the idle part
(EBS gp3 for hub.volume_gib, the Elastic IP) accrues every hour of the month so far. An estimate: a
manual resize outside sessions is priced as hub.instance_type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError
from workshop_hub import costs
from workshop_hub.costs import HOURS_PER_MONTH

from hubctl.discovery import Target
from hubctl.errors import NotFound

if TYPE_CHECKING:
    from workshop_hub.config import WorkshopConfig

METRIC = "mem_used_percent"  # stacks/constructs/hub_monitoring.py MEMORY_METRIC


def metrics_namespace(hub_name: str) -> str:
    """stacks/constructs/hub_monitoring.py namespace(): where the hub's CloudWatch agent publishes."""
    return f"WorkshopHub/{hub_name}"


PERIOD_S = 300


@dataclass(frozen=True)
class MonthSoFar:
    since: dt.datetime
    running_hours: float
    instance_usd: float
    idle_usd: float

    @property
    def total_usd(self) -> float:
        return round(self.instance_usd + self.idle_usd, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(timespec="seconds"),
            "running_hours": round(self.running_hours, 1),
            "instance_usd": round(self.instance_usd, 2),
            "idle_usd": round(self.idle_usd, 2),
            "total_usd": self.total_usd,
        }


def month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def type_at(config: WorkshopConfig, when: dt.datetime) -> str:
    """The instance type the schedule runs at ``when``: a session's (from its preparation to its end)."""
    zone = ZoneInfo(config.schedule.timezone)
    local = when.astimezone(zone)
    for session in config.sessions:
        start = dt.datetime.combine(session.date, dt.time.fromisoformat(session.start), zone)
        end = dt.datetime.combine(session.date, dt.time.fromisoformat(session.end), zone)
        if start - dt.timedelta(minutes=session.prepare_minutes) <= local < end:
            if session.instance_type == "auto":
                return config.plan.instance_type if config.plan else config.hub.instance_type
            return session.instance_type
    return config.hub.instance_type


def estimate(
    config: WorkshopConfig, running: Iterable[dt.datetime], now: dt.datetime, book: costs.PriceBook
) -> MonthSoFar:
    """``running``: the starts (UTC) of the 5-minute periods in which the hub sent its metric."""
    since = month_start(now)
    hours = PERIOD_S / 3600
    counted = [start for start in set(running) if start >= since]
    instance = sum(hours * (book.price(type_at(config, start)) or 0.0) for start in counted)
    running_hours = hours * len(counted)
    elapsed = (now - since).total_seconds() / 3600
    idle = elapsed * (
        book.public_ipv4_hour + book.ebs_gp3_gib_month * config.hub.volume_gib / HOURS_PER_MONTH
    )
    return MonthSoFar(since, running_hours, instance, idle)


def running_periods(
    cloudwatch: Any, namespace: str, since: dt.datetime, now: dt.datetime
) -> list[dt.datetime]:
    query = {
        "Id": "running",
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": METRIC},
            "Period": PERIOD_S,
            "Stat": "SampleCount",
        },
    }
    found: list[dt.datetime] = []
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        answer = cloudwatch.get_metric_data(MetricDataQueries=[query], StartTime=since, EndTime=now, **extra)
        for result in answer["MetricDataResults"]:
            found += [
                t.astimezone(dt.UTC)
                for t, v in zip(result["Timestamps"], result["Values"], strict=True)
                if v > 0
            ]
        token = answer.get("NextToken")
        if not token:
            return found


def month_so_far(config: WorkshopConfig, cloudwatch: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """The estimate as a mapping, or ``{"error": why}`` (no prices for the region, CloudWatch refused...)."""
    now = now or dt.datetime.now(dt.UTC)
    if config.hub.region not in costs.TABLE:
        return {"error": f"no shipped prices for {config.hub.region}"}
    try:
        running = running_periods(cloudwatch, metrics_namespace(config.hub.name), month_start(now), now)
    except (BotoCoreError, ClientError) as err:
        return {"error": f"CloudWatch: {err}"}
    found = estimate(config, running, now, costs.from_table(config.hub.region)).as_dict()
    found["prices"] = f"table of {costs.TABLE_DATE}"
    return found


def month_cost(target: Target) -> dict[str, Any]:
    """This month's cost so far for the hub ``target`` names (CloudWatch on AWS, or the sandbox's moto)."""
    try:
        cloudwatch = target.aws_client("cloudwatch")
    except NotFound as err:
        return {"error": err.message}
    return month_so_far(target.config, cloudwatch)

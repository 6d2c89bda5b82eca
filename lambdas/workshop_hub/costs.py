"""What a hub costs: the shipped on-demand price table and the schedule's busiest month, priced.

Pure (no AWS, no clock): the stacks' budget (stacks/constructs/hub_budget.py), `hubctl plan` (hubctl/plan) and
`hubctl status --cost` (hubctl/cost.py) all price from here, so the infrastructure never imports the CLI.

The table holds the types a workshop hub sensibly runs on (burstable t3/t3a/t4g, general m6i/m7i/m7g,
compute c7i/c7g, memory r7i/r7g), each with its architecture (a type change never crosses it: the
Graviton types need the arm64 image), vCPUs and GiB, and Linux on-demand prices per hour by region.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from workshop_hub.config import AUTO, WorkshopConfig

# Where the shipped prices come from and when they were taken: the output names both.
TABLE_SOURCE = (
    "AWS EC2 on-demand pricing, Linux, shared tenancy (https://aws.amazon.com/ec2/pricing/on-demand/)"
)
TABLE_DATE = "2026-11-28"
# Every public IPv4 address, the Elastic IP included, attached or not (AWS, since February 2024).
PUBLIC_IPV4_PER_HOUR = 0.005


@dataclass(frozen=True)
class InstanceType:
    name: str
    arch: str  # "x86_64" or "arm64"
    vcpu: int
    gib: float

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Priced:
    type: InstanceType
    per_hour: float


@dataclass(frozen=True)
class PriceBook:
    region: str
    source: str  # "table" or "price-list-api"
    detail: str  # where the numbers come from, and their date
    ebs_gp3_gib_month: float
    public_ipv4_hour: float
    instances: tuple[Priced, ...]

    def price(self, name: str) -> float | None:
        for each in self.instances:
            if each.type.name == name:
                return each.per_hour
        return None


_SIZES: dict[str, tuple[int, float]] = {
    "small": (2, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
    "4xlarge": (16, 64),
    "8xlarge": (32, 128),
}
# GiB per vCPU relative to the general-purpose families (m: 4, c: 2, r: 8).
_RATIO = {"t": 1.0, "m": 1.0, "c": 0.5, "r": 2.0}
# The burstable families' small and medium have 2 vCPUs; m7g/c7g/r7g.medium have one.
_ONE_VCPU_MEDIUM = {"m7g", "c7g", "r7g"}
_ARM = {"t4g", "m7g", "c7g", "r7g"}


def _type(name: str) -> InstanceType:
    family, size = name.split(".", 1)
    vcpu, gib = _SIZES[size]
    if size == "medium" and family in _ONE_VCPU_MEDIUM:
        vcpu = 1
    gib *= _RATIO[family[0]]
    return InstanceType(name=name, arch="arm64" if family in _ARM else "x86_64", vcpu=vcpu, gib=gib)


# USD per hour, Linux on-demand. us-east-2 prices these families as us-east-1 does.
_US_EAST: dict[str, float] = {
    "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752, "t3a.xlarge": 0.1504, "t3a.2xlarge": 0.3008,
    "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672, "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768, "m6i.8xlarge": 1.536,
    "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032, "m7i.4xlarge": 0.8064, "m7i.8xlarge": 1.6128,
    "m7g.medium": 0.0408, "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "m7g.2xlarge": 0.3264,
    "m7g.4xlarge": 0.6528, "m7g.8xlarge": 1.3056,
    "c7i.large": 0.08925, "c7i.xlarge": 0.1785, "c7i.2xlarge": 0.357, "c7i.4xlarge": 0.714,
    "c7g.medium": 0.0363, "c7g.large": 0.0725, "c7g.xlarge": 0.145, "c7g.2xlarge": 0.29, "c7g.4xlarge": 0.58,
    "r7i.large": 0.1323, "r7i.xlarge": 0.2646, "r7i.2xlarge": 0.5292, "r7i.4xlarge": 1.0584, "r7i.8xlarge": 2.1168,
    "r7g.medium": 0.0536, "r7g.large": 0.1071, "r7g.xlarge": 0.2142, "r7g.2xlarge": 0.4284,
    "r7g.4xlarge": 0.8568, "r7g.8xlarge": 1.7136,
}  # fmt: skip
_EU_WEST_1: dict[str, float] = {
    "t3.small": 0.0228, "t3.medium": 0.0456, "t3.large": 0.0912, "t3.xlarge": 0.1824, "t3.2xlarge": 0.3648,
    "t3a.small": 0.0204, "t3a.medium": 0.0408, "t3a.large": 0.0816, "t3a.xlarge": 0.1632, "t3a.2xlarge": 0.3264,
    "t4g.small": 0.0184, "t4g.medium": 0.0368, "t4g.large": 0.0736, "t4g.xlarge": 0.1472, "t4g.2xlarge": 0.2944,
    "m6i.large": 0.107, "m6i.xlarge": 0.214, "m6i.2xlarge": 0.428, "m6i.4xlarge": 0.856, "m6i.8xlarge": 1.712,
    "m7i.large": 0.1124, "m7i.xlarge": 0.2247, "m7i.2xlarge": 0.4494, "m7i.4xlarge": 0.8988, "m7i.8xlarge": 1.7976,
    "m7g.medium": 0.0446, "m7g.large": 0.0892, "m7g.xlarge": 0.1784, "m7g.2xlarge": 0.3568,
    "m7g.4xlarge": 0.7136, "m7g.8xlarge": 1.4272,
    "c7i.large": 0.0899, "c7i.xlarge": 0.1798, "c7i.2xlarge": 0.3595, "c7i.4xlarge": 0.719,
    "c7g.medium": 0.0386, "c7g.large": 0.0772, "c7g.xlarge": 0.1544, "c7g.2xlarge": 0.3088, "c7g.4xlarge": 0.6176,
    "r7i.large": 0.1481, "r7i.xlarge": 0.2961, "r7i.2xlarge": 0.5922, "r7i.4xlarge": 1.1844, "r7i.8xlarge": 2.3688,
    "r7g.medium": 0.0597, "r7g.large": 0.1193, "r7g.xlarge": 0.2386, "r7g.2xlarge": 0.4773,
    "r7g.4xlarge": 0.9545, "r7g.8xlarge": 1.909,
}  # fmt: skip
# (hourly prices, gp3 USD per GiB-month)
TABLE: dict[str, tuple[dict[str, float], float]] = {
    "us-east-1": (_US_EAST, 0.08),
    "us-east-2": (_US_EAST, 0.08),
    "eu-west-1": (_EU_WEST_1, 0.088),
}
TYPES: tuple[InstanceType, ...] = tuple(_type(name) for name in _US_EAST)


class NoPrices(LookupError):
    """The shipped table has no prices for the region."""


def from_table(region: str) -> PriceBook:
    if region not in TABLE:
        raise NoPrices(
            f"hub.region: no shipped prices for '{region}' (the table has {', '.join(sorted(TABLE))})"
        )
    hourly, gp3 = TABLE[region]
    return PriceBook(
        region=region,
        source="table",
        detail=f"{TABLE_SOURCE}, as of {TABLE_DATE}",
        ebs_gp3_gib_month=gp3,
        public_ipv4_hour=PUBLIC_IPV4_PER_HOUR,
        instances=tuple(Priced(t, hourly[t.name]) for t in TYPES),
    )


# --- the schedule's hours -----------------------------------------------------------------------------------

# gp3 bills the provisioned size all month; the Elastic IP (a public IPv4) every hour.
HOURS_PER_MONTH = 730.0
WEEKS_PER_MONTH = 365.25 / 12 / 7
# A workshop day when neither sessions nor a morning start say how long the hub runs.
DEFAULT_DAY_HOURS = 8.0


@dataclass(frozen=True)
class Hours:
    session_hours_month: float  # at the session's type, in the busiest month
    workshop_days_month: int
    everyday_hours_month: float  # at hub.instance_type (morning start to night stop)
    day_hours: float  # one workshop day
    month: str | None  # the busiest month, YYYY-MM
    notes: tuple[str, ...] = ()


def clock_hours(start: str, end: str) -> float:
    """Hours from ``start`` to ``end`` (HH:MM), through midnight when ``end`` is not later."""
    sh, sm = (int(x) for x in start.split(":"))
    eh, em = (int(x) for x in end.split(":"))
    minutes = (eh * 60 + em) - (sh * 60 + sm)
    if minutes <= 0:
        minutes += 24 * 60
    return minutes / 60


def hours(config: WorkshopConfig) -> Hours:
    """Running hours of a month from the schedule: sessions at their type, morning start to night stop."""
    notes: list[str] = []
    by_month: dict[str, list[float]] = defaultdict(list)
    for session in config.sessions:
        length = clock_hours(session.start, session.end) + session.prepare_minutes / 60
        by_month[session.date.strftime("%Y-%m")].append(length)
    month = max(by_month, key=lambda m: (sum(by_month[m]), m)) if by_month else None
    session_hours = sum(by_month[month]) if month else 0.0
    days = len(by_month[month]) if month else 0

    schedule = config.schedule
    everyday = 0.0
    daily = 0.0
    if schedule.morning_start and schedule.night_stop:
        daily = clock_hours(schedule.morning_start.time, schedule.night_stop.time)
        everyday = daily * len(set(schedule.morning_start.days)) * WEEKS_PER_MONTH
        # On a session day the session's type runs instead for the session's hours.
        everyday = max(0.0, everyday - session_hours)
    elif schedule.morning_start is None:
        notes.append(
            "no morning_start: outside sessions the hub runs only when started by hand (not counted)"
        )
    else:
        notes.append("morning_start without night_stop: the hub would run around the clock (not counted)")

    if days:
        day = session_hours / days
    elif daily:
        day = daily
    else:
        day = DEFAULT_DAY_HOURS
        notes.append(f"no sessions and no morning start: a workshop day counts {DEFAULT_DAY_HOURS:g} hours")
    if not by_month:
        notes.append("no sessions: per month is the everyday schedule at the planned type")
    return Hours(session_hours, days, everyday, day, month, tuple(notes))


def monthly_estimate(config: WorkshopConfig, book: PriceBook) -> float | None:
    """The schedule's busiest month in USD: each session at its own type, the everyday schedule at
    hub.instance_type, the disk and the Elastic IP. None when a type has no price in ``book``."""
    hrs = hours(config)
    everyday = book.price(config.hub.instance_type)
    if everyday is None:
        return None
    total = everyday * hrs.everyday_hours_month
    planned = config.plan.instance_type if config.plan else None
    for session in config.sessions:
        if hrs.month and session.date.strftime("%Y-%m") == hrs.month:
            name = planned if session.instance_type == AUTO else session.instance_type
            rate = book.price(name) if name else None
            if rate is None:
                return None
            total += rate * (clock_hours(session.start, session.end) + session.prepare_minutes / 60)
    total += book.ebs_gp3_gib_month * config.hub.volume_gib + book.public_ipv4_hour * HOURS_PER_MONTH
    return round(total, 2)

"""The plan's arithmetic: pure functions of the measurements, the settings and a price book.

No I/O here: tests check it by tables. Every constant that is an assumption rather than a measurement is
named and shown in the plan's output (``ASSUMPTIONS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workshop_hub.costs import HOURS_PER_MONTH, Hours, PriceBook, Priced, hours

if TYPE_CHECKING:
    from workshop_hub.config import WorkshopConfig

MIB = 1024**2
GIB = 1024**3

# What runs beside the participants' kernels (resident memory on a TLJH hub, rounded up).
RESERVED_BYTES: dict[str, int] = {
    "os": 600 * MIB,  # kernel, systemd, snapd, SSM agent, CloudWatch agent
    "hub": 250 * MIB,  # JupyterHub and its idle culler
    "proxy": 80 * MIB,  # traefik
}
# One participant's JupyterLab server (jupyter-server with its extensions), without kernels.
USER_SERVER_BYTES = 150 * MIB
# Participants' memory is planned this much above the measured peaks (peaks differ run to run,
# participants try things, libraries cache).
HEADROOM = 1.2
# The part of an instance's nominal GiB that Linux sees as MemTotal (the kernel reserves the rest).
USABLE_FRACTION = 0.94
# The per-participant memory limit is this many times the planned per-participant need.
LIMIT_FACTOR = 1.5
LIMIT_STEP = 256 * MIB
MIN_LIMIT = 512 * MIB
# CPU: a participant runs cells this share of the workshop (reading, typing, listening the rest);
# vCPUs = participants x measured CPU share of the busiest notebook x ACTIVE_SHARE x CPU_HEADROOM.
ACTIVE_SHARE = 0.2
CPU_HEADROOM = 1.2
MIN_VCPU = 2
# Disk: Ubuntu, TLJH's hub and user environments, snaps and agents, before packages and homes.
BASE_DISK_GIB = 8.0
DISK_HEADROOM = 1.25
MIN_DISK_GIB = 10
# gp3 bills the provisioned size all month; the Elastic IP (a public IPv4) every hour (workshop_hub.costs).

ASSUMPTIONS: dict[str, str] = {
    "reserved": "OS 600 MiB, JupyterHub 250 MiB, proxy 80 MiB",
    "user_server": "150 MiB per participant's JupyterLab server",
    "headroom": f"participants' memory x{HEADROOM}; an instance offers {USABLE_FRACTION:.0%} of its GiB",
    "memory_limit": f"{LIMIT_FACTOR}x one participant's planned need, in steps of 256 MiB, at least 512 MiB",
    "cpu": f"participants run cells {ACTIVE_SHARE:.0%} of the time; vCPUs x{CPU_HEADROOM}, at least {MIN_VCPU}",
    "cpu_share": "the kernel's CPU time (with its children) over the wall time of the cells' own work: the "
    "kernel's start and each cell's leading imports (run once per kernel, timed apart) are left out",
    "disk": f"{BASE_DISK_GIB:g} GiB system + data once + notebooks and outputs per participant, x{DISK_HEADROOM}",
}


@dataclass(frozen=True)
class Failure:
    cell: int  # 1-based among all the notebook's cells
    error: str
    category: str | None = None  # the rehearsal's (hubagent faults.py); a local run gives none
    hint: str | None = None


@dataclass(frozen=True)
class Measured:
    """One notebook as run, past its failing cells: how many of its code cells ran and failed, its
    kernel's peak resident memory (with children) and baseline, the cells' time and CPU, its outputs.

    ``cpu_share`` is CPU seconds per second over the cells' own work: the kernel's start and each cell's
    leading imports (run once per kernel, set apart as their own request) are left out."""

    name: str
    code_cells: int = 0  # non-empty code cells
    import_cells: int = 0  # of which only import
    ran: int = 0  # non-empty code cells run
    failed: int = 0
    worked: int = 0  # cells beyond imports that ran without an error
    peak_bytes: int = 0
    baseline_bytes: int = 0
    seconds: float = 0.0  # the cells' wall time, imports included
    import_seconds: float = 0.0
    cpu_share: float = 0.0
    disk_bytes: int = 0
    failures: tuple[Failure, ...] = ()
    error: str | None = None  # the notebook did not run at all (unreadable, no kernel)

    @property
    def not_measured(self) -> str | None:
        """Why this notebook's numbers cannot size the hub, in words; None when they can."""
        if self.error:
            return f"it did not run: {self.error}"
        if self.code_cells == 0:
            return "its code cells are empty"
        if self.code_cells == self.import_cells:
            return "its code cells only import"
        if self.worked == 0:
            return "no cell beyond its imports ran without an error"
        if self.failed * 2 > self.code_cells:
            return f"{self.failed} of its {self.code_cells} code cells failed"
        return None

    @property
    def measured(self) -> bool:
        return self.not_measured is None


@dataclass(frozen=True)
class Measurements:
    """What the plan sizes the hub from: the notebooks as they ran, and the bytes on the disk."""

    measured: list[Measured]
    source: str
    notebooks_bytes: int
    data_bytes: int


@dataclass(frozen=True)
class Inputs:
    participants: int
    open_notebooks: int = 1
    data_bytes: int = 0
    notebooks_bytes: int = 0


@dataclass(frozen=True)
class Memory:
    per_participant: int
    participants_total: int
    reserved: int
    needed: int
    limit: int


@dataclass(frozen=True)
class Option:
    name: str
    arch: str
    vcpu: int
    gib: float
    per_hour: float
    per_day: float
    per_month: float


@dataclass(frozen=True)
class Costs:
    idle_month: float  # EBS and the Elastic IP, whether the hub runs or not
    ebs_month: float
    ip_month: float
    everyday_month: float  # hub.instance_type's scheduled hours


@dataclass
class Plan:
    memory: Memory
    vcpus: int
    disk_gib: int
    hours: Hours
    costs: Costs
    x86: list[Option] = field(default_factory=list)
    arm64: list[Option] = field(default_factory=list)
    recommended: Option | None = None


def per_participant_bytes(measured: list[Measured], open_notebooks: int) -> int:
    """A participant's server plus the kernels of the ``open_notebooks`` heaviest notebooks at once."""
    peaks = sorted((m.peak_bytes for m in measured if m.measured), reverse=True)
    return USER_SERVER_BYTES + sum(peaks[: max(1, open_notebooks)])


def vcpus_needed(measured: list[Measured], participants: int) -> int:
    busiest = max((m.cpu_share for m in measured if m.measured), default=0.0)
    return max(MIN_VCPU, math.ceil(participants * busiest * ACTIVE_SHARE * CPU_HEADROOM))


def round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def memory(measured: list[Measured], inputs: Inputs) -> Memory:
    one = per_participant_bytes(measured, inputs.open_notebooks)
    participants_total = math.ceil(one * inputs.participants * HEADROOM)
    reserved = sum(RESERVED_BYTES.values())
    limit = max(MIN_LIMIT, round_up(one * LIMIT_FACTOR, LIMIT_STEP))
    return Memory(one, participants_total, reserved, reserved + participants_total, limit)


def limit_text(limit_bytes: int) -> str:
    """TLJH's ``limits.memory`` spelling: ``2G`` when whole GiB, else ``1536M``."""
    mib = round_up(limit_bytes, MIB) // MIB
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def disk_gib(measured: list[Measured], inputs: Inputs) -> int:
    """System + data once + (notebooks and their outputs) per participant, with headroom."""
    outputs = sum(m.disk_bytes for m in measured if m.measured)
    per_participant = inputs.notebooks_bytes + outputs
    total = BASE_DISK_GIB * GIB + inputs.data_bytes + per_participant * inputs.participants
    return max(MIN_DISK_GIB, math.ceil(total * DISK_HEADROOM / GIB))


def costs(config: WorkshopConfig, book: PriceBook, disk: int, hrs: Hours) -> Costs:
    ebs = book.ebs_gp3_gib_month * disk
    ip = book.public_ipv4_hour * HOURS_PER_MONTH
    everyday_price = book.price(config.hub.instance_type) or 0.0
    return Costs(ebs + ip, ebs, ip, everyday_price * hrs.everyday_hours_month if hrs.month else 0.0)


def fits(priced: Priced, needed_bytes: int, vcpus: int = MIN_VCPU) -> bool:
    return priced.type.gib * GIB * USABLE_FRACTION >= needed_bytes and priced.type.vcpu >= vcpus


def option(priced: Priced, hrs: Hours, cost: Costs) -> Option:
    rate = priced.per_hour
    if hrs.month:
        month = rate * hrs.session_hours_month + cost.everyday_month + cost.idle_month
    else:
        month = rate * hrs.everyday_hours_month + cost.idle_month
    return Option(
        name=priced.type.name,
        arch=priced.type.arch,
        vcpu=priced.type.vcpu,
        gib=priced.type.gib,
        per_hour=rate,
        per_day=rate * hrs.day_hours,
        per_month=round(month, 2),
    )


def architecture(instance_type: str) -> str:
    """``arm64`` for Graviton types (a 'g' after the generation digit, or a1), else ``x86_64``."""
    family = instance_type.split(".", 1)[0]
    digits = [i for i, ch in enumerate(family) if ch.isdigit()]
    if family == "a1" or (digits and "g" in family[digits[0] + 1 :]):
        return "arm64"
    return "x86_64"


def plan(
    config: WorkshopConfig, book: PriceBook, measured: list[Measured], inputs: Inputs, choices: int = 3
) -> Plan:
    mem = memory(measured, inputs)
    vcpus = vcpus_needed(measured, inputs.participants)
    disk = disk_gib(measured, inputs)
    hrs = hours(config)
    cost = costs(config, book, disk, hrs)
    fitting = sorted(
        (option(p, hrs, cost) for p in book.instances if fits(p, mem.needed, vcpus)),
        key=lambda o: (o.per_hour, o.gib, o.name),
    )
    result = Plan(memory=mem, vcpus=vcpus, disk_gib=disk, hours=hrs, costs=cost)
    result.x86 = [o for o in fitting if o.arch == "x86_64"][:choices]
    result.arm64 = [o for o in fitting if o.arch == "arm64"][:choices]
    # A type change never crosses architectures: the sessions' type follows hub.instance_type's.
    same = result.arm64 if architecture(config.hub.instance_type) == "arm64" else result.x86
    result.recommended = same[0] if same else None
    return result

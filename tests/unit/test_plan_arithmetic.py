"""The plan's arithmetic, by tables: memory, limits, disk, running hours, costs, the choice of type."""

from __future__ import annotations

import pytest
from workshop_hub import config as workshop_config
from workshop_hub import costs

from hubctl.errors import BadInput
from hubctl.plan import arithmetic as a
from hubctl.plan import prices
from hubctl.plan.arithmetic import GIB, MIB, Inputs, Measured


def nb(name: str, peak_mib: float, ok: bool = True, cpu: float = 0.5, disk_mib: float = 0) -> Measured:
    """A notebook of four code cells: all ran (``ok``), or three of them failed (not measured)."""
    return Measured(
        name=name,
        code_cells=4,
        ran=4,
        failed=0 if ok else 3,
        worked=4 if ok else 1,
        peak_bytes=int(peak_mib * MIB),
        cpu_share=cpu,
        disk_bytes=int(disk_mib * MIB),
    )


def settings(**data: object) -> workshop_config.WorkshopConfig:
    return workshop_config.parse(data)


@pytest.mark.parametrize(
    ("peaks", "open_notebooks", "expected_mib"),
    [
        ([200], 1, 150 + 200),
        ([200, 500, 300], 1, 150 + 500),
        ([200, 500, 300], 2, 150 + 500 + 300),
        ([200, 500, 300], 5, 150 + 1000),
    ],
)
def test_per_participant_is_the_server_and_the_heaviest_open_kernels(peaks, open_notebooks, expected_mib):
    measured = [nb(f"n{i}", p) for i, p in enumerate(peaks)]
    assert a.per_participant_bytes(measured, open_notebooks) == expected_mib * MIB


def test_a_failed_notebook_is_left_out():
    measured = [nb("ok", 300), nb("broken", 5000, ok=False)]
    assert a.per_participant_bytes(measured, 2) == (150 + 300) * MIB


@pytest.mark.parametrize(
    ("peak_mib", "participants", "needed_mib", "limit"),
    [
        # (150 + 350) x 30 x 1.2 + 930 reserved = 18930; limit 1.5 x 500 = 750 -> 768M
        (350, 30, 18930, "768M"),
        # (150 + 874) x 10 x 1.2 + 930 = 13218; 1.5 x 1024 = 1536M
        (874, 10, 13218, "1536M"),
        # small peaks get the 512 MiB floor: 1.5 x 200 = 300 MiB
        (50, 1, 930 + 240, "512M"),
        # 1.5 x (150 + 1215.67) = 2048.5 MiB: one step of 256 MiB up; exactly 2048 stays 2G
        (1215 + 2 / 3, 1, None, "2304M"),
        (1215 + 1 / 3, 1, None, "2G"),
    ],
)
def test_memory_needed_and_limit(peak_mib, participants, needed_mib, limit):
    mem = a.memory([nb("n", peak_mib)], Inputs(participants=participants))
    if needed_mib is not None:
        assert mem.needed == pytest.approx(needed_mib * MIB, abs=1)
    assert a.limit_text(mem.limit) == limit


@pytest.mark.parametrize(
    ("limit_bytes", "text"),
    [(512 * MIB, "512M"), (1024 * MIB, "1G"), (1536 * MIB, "1536M"), (4 * GIB, "4G"), (1, "1M")],
)
def test_limit_text_is_tljh_spelling(limit_bytes, text):
    assert a.limit_text(limit_bytes) == text
    if text != "1M":
        workshop_config.parse({"hub": {"memory_limit": text}})  # the settings accept what the plan writes


@pytest.mark.parametrize(
    ("participants", "notebooks_mib", "outputs_mib", "data_gib", "expected"),
    [
        (1, 0, 0, 0, 10),  # 8 GiB x 1.25 = 10
        (1, 1, 0, 0, 11),  # (8 GiB + 1 MiB) x 1.25 = 10.001 -> 11: always rounded up
        (30, 100, 20, 0, 15),  # (8 + 30 x 120 MiB = 11.52 GiB) x 1.25 = 14.4 -> 15
        (30, 100, 20, 5, 21),  # + 5 GiB of data once: 16.52 x 1.25 = 20.65 -> 21
        (200, 500, 0, 0, 133),  # (8 + 97.66) x 1.25 = 132.08 -> 133
    ],
)
def test_disk(participants, notebooks_mib, outputs_mib, data_gib, expected):
    measured = [nb("n", 100, disk_mib=outputs_mib)]
    inputs = Inputs(participants=participants, notebooks_bytes=notebooks_mib * MIB, data_bytes=data_gib * GIB)
    assert a.disk_gib(measured, inputs) == expected


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [("09:00", "17:00", 8.0), ("08:30", "22:00", 13.5), ("22:00", "02:00", 4.0), ("09:00", "09:00", 24.0)],
)
def test_clock_hours(start, end, hours):
    assert costs.clock_hours(start, end) == hours


SESSION = {"start": "09:00", "end": "17:00", "instance_type": "t3.xlarge"}  # 8 h + 30 min prepare


@pytest.mark.parametrize(
    ("data", "session_h", "days", "everyday_h", "day_h", "month"),
    [
        # two sessions in December, one in January: the busiest month is December
        (
            {
                "sessions": [
                    {"date": "2026-12-03", **SESSION},
                    {"date": "2026-12-04", **SESSION},
                    {"date": "2027-01-10", **SESSION},
                ]
            },
            17.0,
            2,
            0.0,
            8.5,
            "2026-12",
        ),
        # morning start 08:00 to night stop 22:00 on five days: 14 h x 5 x 4.348 weeks, minus the session's
        (
            {
                "schedule": {
                    "morning_start": {"time": "08:00", "days": ["MON", "TUE", "WED", "THU", "FRI"]},
                    "night_stop": {"time": "22:00"},
                },
                "sessions": [{"date": "2026-12-03", **SESSION}],
            },
            8.5,
            1,
            14 * 5 * costs.WEEKS_PER_MONTH - 8.5,
            8.5,
            "2026-12",
        ),
        # no sessions, no morning start: a day is 8 h, nothing scheduled
        ({}, 0.0, 0, 0.0, 8.0, None),
        # morning start but no night stop: not counted (it would run around the clock)
        ({"schedule": {"morning_start": {"time": "08:00"}, "night_stop": None}}, 0.0, 0, 0.0, 8.0, None),
    ],
)
def test_running_hours_from_the_schedule(data, session_h, days, everyday_h, day_h, month):
    hours = costs.hours(settings(**data))
    assert hours.session_hours_month == pytest.approx(session_h)
    assert hours.workshop_days_month == days
    assert hours.everyday_hours_month == pytest.approx(everyday_h)
    assert hours.day_hours == pytest.approx(day_h)
    assert hours.month == month


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [("t3.medium", "x86_64"), ("t4g.large", "arm64"), ("m7g.xlarge", "arm64"), ("c7gn.large", "arm64"),
     ("a1.large", "arm64"), ("m6i.large", "x86_64"), ("t3a.xlarge", "x86_64"), ("g5.xlarge", "x86_64")],
)  # fmt: skip
def test_architecture(instance_type, arch):
    assert a.architecture(instance_type) == arch


def test_the_table_knows_each_types_architecture_and_size():
    by_name = {t.name: t for t in costs.TYPES}
    assert (by_name["t4g.large"].arch, by_name["t4g.large"].vcpu, by_name["t4g.large"].gib) == ("arm64", 2, 8)
    assert (by_name["c7i.xlarge"].arch, by_name["c7i.xlarge"].gib) == ("x86_64", 8)
    assert (by_name["r7g.2xlarge"].vcpu, by_name["r7g.2xlarge"].gib) == (8, 64)
    assert by_name["m7g.medium"].vcpu == 1
    for region in costs.TABLE:
        book = prices.from_table(region)
        assert all(p.per_hour > 0 for p in book.instances)
        assert len(book.instances) == len(costs.TYPES)


def test_a_region_without_shipped_prices_is_refused_by_name():
    with pytest.raises(BadInput, match=r"hub\.region: no shipped prices for 'ap-south-2'"):
        prices.from_table("ap-south-2")


def test_the_plan_picks_the_cheapest_fitting_type_of_the_hubs_architecture():
    config = settings(
        hub={"instance_type": "t3.medium", "region": "us-east-1"},
        sessions=[{"date": "2026-12-03", **SESSION}],
    )
    book = prices.from_table("us-east-1")
    measured = [nb("a", 350, cpu=0.9), nb("b", 100, cpu=0.2)]
    plan = a.plan(config, book, measured, Inputs(participants=30))
    # (150 + 350) MiB x 30 x 1.2 + 930 MiB = 18.5 GiB; 30 x 0.9 x 0.2 x 1.2 = 6.48 -> 7 vCPUs
    assert plan.vcpus == 7
    assert plan.memory.needed / GIB == pytest.approx(18.49, abs=0.01)
    assert [o.name for o in plan.x86] == ["t3a.2xlarge", "t3.2xlarge", "m6i.2xlarge"]
    assert plan.recommended is not None and plan.recommended.name == "t3a.2xlarge"
    assert plan.arm64[0].name == "t4g.2xlarge"
    for option in plan.x86 + plan.arm64:
        assert option.gib * 0.94 * GIB >= plan.memory.needed and option.vcpu >= 7
    # per month: 8.5 session hours at the type + idle (gp3 x disk + 730 h of the Elastic IP)
    idle = 0.08 * plan.disk_gib + 0.005 * 730
    assert plan.recommended.per_month == pytest.approx(0.3008 * 8.5 + idle, abs=0.01)
    assert plan.recommended.per_day == pytest.approx(0.3008 * 8.5)


def test_a_graviton_hub_gets_a_graviton_recommendation():
    config = settings(hub={"instance_type": "t4g.medium", "region": "us-east-1"})
    plan = a.plan(config, prices.from_table("us-east-1"), [nb("a", 200)], Inputs(participants=5))
    assert plan.recommended is not None and plan.recommended.arch == "arm64"


def test_nothing_fits_an_enormous_workshop():
    config = settings(hub={"region": "us-east-1"})
    plan = a.plan(config, prices.from_table("us-east-1"), [nb("a", 8000)], Inputs(participants=100))
    assert plan.recommended is None and plan.x86 == [] and plan.arm64 == []


def test_every_architecture_rule_agrees_on_the_table():
    from stacks.constructs.hub_instance import architecture as image_architecture

    for each in costs.TYPES:
        arm = each.arch == "arm64"
        assert (a.architecture(each.name) == "arm64") == arm, each.name
        assert workshop_config._arm64(each.name) == arm, each.name
        assert (image_architecture(each.name) == "arm64") == arm, each.name


@pytest.mark.parametrize(
    ("measured", "why"),
    [
        (Measured("a", code_cells=4, ran=4, worked=4), None),
        (Measured("a", code_cells=4, ran=4, failed=2, worked=2), None),  # half failed: still measured
        (Measured("a", code_cells=5, ran=5, failed=3, worked=2), "3 of its 5 code cells failed"),
        (Measured("a"), "its code cells are empty"),
        (Measured("a", code_cells=1, import_cells=1, ran=1), "its code cells only import"),
        (
            Measured("a", code_cells=3, import_cells=1, ran=3, failed=1, worked=0),
            "no cell beyond its imports ran without an error",
        ),
        (Measured("a", error="the kernel did not start"), "it did not run: the kernel did not start"),
    ],
)
def test_what_counts_as_measured(measured: Measured, why: str | None) -> None:
    assert measured.not_measured == why
    assert measured.measured is (why is None)

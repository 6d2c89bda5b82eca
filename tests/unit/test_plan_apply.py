"""hubctl plan --apply edits workshop.yaml's text: comments and order stay, the result is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from workshop_hub import config as workshop_config

from hubctl.plan.apply import Applied, apply, edited

PROJECT = Path(__file__).resolve().parents[2]
APPLIED = Applied("t3.2xlarge", "1536M", 30, "2026-11-28T21:40Z", "2 of 2 notebooks in ./nb", 123.456)


def test_the_example_keeps_every_line_and_gains_the_plan():
    text = (PROJECT / "workshop.yaml").read_text()
    new = edited(text, APPLIED)
    for line in text.splitlines():
        assert line in new.splitlines()
    data = yaml.safe_load(new)
    assert data["hub"]["memory_limit"] == "1536M"
    assert data["plan"] == {
        "instance_type": "t3.2xlarge",
        "participants": 30,
        "planned_at": "2026-11-28T21:40Z",
        "source": "2 of 2 notebooks in ./nb",
        "monthly_usd": 123.46,
    }
    assert "# Written by `hubctl plan --apply` on 2026-11-28T21:40Z from 2 of 2 notebooks in ./nb:" in new
    assert data["hub"]["instance_type"] == "t3.medium"  # the rest is as it was


def test_applying_twice_replaces_instead_of_repeating():
    text = (PROJECT / "workshop.yaml").read_text()
    once = edited(text, APPLIED)
    later = Applied("m6i.2xlarge", "2G", 40, "2026-11-29T08:00Z", "3 of 3 notebooks in ./nb", None)
    twice = edited(once, later)
    settings = [line for line in twice.splitlines() if line.lstrip().startswith("memory_limit:")]
    assert len(settings) == 1 and twice.count("\nplan:") == 1  # (the example's commented one stays)
    assert twice.count("# Written by `hubctl plan --apply`") == 1
    data = yaml.safe_load(twice)
    assert data["hub"]["memory_limit"] == "2G"
    assert data["plan"]["instance_type"] == "m6i.2xlarge" and "monthly_usd" not in data["plan"]
    assert edited(twice, later) == twice


@pytest.mark.parametrize(
    ("text", "expected_hub"),
    [
        ("", {"memory_limit": "1536M"}),
        ("# only a comment\n", {"memory_limit": "1536M"}),
        ("hub:\n    name: geo   # four spaces\nsessions: []\n", {"name": "geo", "memory_limit": "1536M"}),
        ("hub:\n  memory_limit: 1G   # was\n  name: geo\n", {"memory_limit": "1536M", "name": "geo"}),
        ("schedule:\n  timezone: UTC\n", {"memory_limit": "1536M"}),
    ],
)
def test_memory_limit_lands_in_the_hub_block(text, expected_hub):
    new = edited(text, APPLIED)
    data = yaml.safe_load(new)
    assert data["hub"] == expected_hub
    workshop_config.parse(data)


def test_a_file_that_would_not_be_valid_is_not_written(tmp_path):
    path = tmp_path / "workshop.yaml"
    original = "hub:\n  name: X_bad\n"
    path.write_text(original)
    with pytest.raises(workshop_config.ConfigError, match=r"hub\.name"):
        apply(path, APPLIED)
    assert path.read_text() == original
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_apply_writes_and_keeps_the_mode(tmp_path):
    path = tmp_path / "workshop.yaml"
    path.write_text((PROJECT / "workshop.yaml").read_text())
    path.chmod(0o640)
    checked = apply(path, APPLIED)
    assert checked.plan is not None and checked.plan.instance_type == "t3.2xlarge"
    assert checked.hub.memory_limit == "1536M"
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("value", "ok"),
    [("512M", True), ("2G", True), ("1536M", True), ("255M", False), ("1.5G", False), ("2g", False),
     ("0G", False), ("2GB", False), ("", False)],
)  # fmt: skip
def test_memory_limit_rule(value, ok):
    data = {"hub": {"memory_limit": value}}
    if ok:
        assert workshop_config.parse(data).hub.memory_limit == value
    else:
        with pytest.raises(workshop_config.ConfigError, match=r"hub\.memory_limit: .* is not a memory size"):
            workshop_config.parse(data)


SESSION = {"date": "2026-12-03", "start": "09:00", "end": "17:00"}


def test_auto_sessions_resolve_from_the_plan_or_are_refused():
    no_plan = workshop_config.parse({"sessions": [{**SESSION, "instance_type": "auto"}]})
    with pytest.raises(
        workshop_config.ConfigError, match=r"sessions\[0\]\.instance_type: 'auto' needs a plan"
    ):
        workshop_config.resolve_auto(no_plan)
    planned = workshop_config.parse(
        {
            "sessions": [{**SESSION, "instance_type": "auto"}, {**SESSION, "instance_type": "m6i.large"}],
            "plan": {"instance_type": "t3.2xlarge", "participants": 30, "planned_at": "2026-11-28T21:40Z"},
        }
    )
    resolved = workshop_config.resolve_auto(planned)
    assert [s.instance_type for s in resolved.sessions] == ["t3.2xlarge", "m6i.large"]


def test_a_bad_session_type_names_auto_as_the_alternative():
    with pytest.raises(workshop_config.ConfigError, match=r"sessions\[0\]\.instance_type: 'big' .*or 'auto'"):
        workshop_config.parse({"sessions": [{**SESSION, "instance_type": "big"}]})


def test_a_plan_of_another_architecture_is_refused():
    planned = workshop_config.parse(
        {
            "hub": {"instance_type": "t3.medium"},
            "sessions": [{**SESSION, "instance_type": "auto"}],
            "plan": {"instance_type": "t4g.2xlarge", "participants": 30, "planned_at": "2026-11-28T21:40Z"},
        }
    )
    with pytest.raises(
        workshop_config.ConfigError, match=r"plan\.instance_type: t4g\.2xlarge and hub\.instance_type"
    ):
        workshop_config.resolve_auto(planned)

"""Every kind has what its place in the table promises: a kind the instructor asks for has its API route
and its hubctl command, a kind a schedule asks for is one the schedules can fire, and the names are one
table. A kind's AWS calls are held to its function's grants by the IAM contract check: the production
wiring test (tests/infra/test_production_wiring.py) runs every kind on the AWS adapters."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import typer.main
from handlers import api
from handlers import plane as handlers_plane
from workshop_hub import config, schedules
from workshop_hub.kinds.kind import CONTROL_PLANE, SCHEDULE, Instructor, Kind
from workshop_hub.kinds.params import Context
from workshop_hub.kinds.registry import FAMILIES, REGISTRY, REQUESTED, SCHEDULED
from workshop_hub.times import utcnow

from tests.support.apigw import call
from tests.support.fake_plane import FakePlane

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plane() -> Iterator[FakePlane]:
    fake = FakePlane()
    handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
    yield fake
    handlers_plane.use_control_plane(None)


def asked(kind: Kind) -> Instructor:
    assert kind.instructor is not None, kind.name
    return kind.instructor


def test_the_registry_is_every_familys_kinds_each_once() -> None:
    names = [kind.name for family in FAMILIES for kind in family.KINDS]
    assert len(names) == len(set(names)) == len(REGISTRY)
    for kind in REGISTRY.values():
        assert kind.instructor is not None or kind.asked_by in (SCHEDULE, CONTROL_PLANE), kind.name
        # Only an operation that runs can wait for the hub; a recording-only one is over at submit.
        assert kind.workflow is not None or not kind.lease, kind.name


@pytest.mark.parametrize("kind", REQUESTED, ids=lambda k: k.name)
def test_a_kind_the_instructor_asks_for_has_its_route(plane: FakePlane, kind: Kind) -> None:
    """The kind's example, sent to its route as a client sends it, becomes an operation of that kind."""
    route = asked(kind).route
    params: dict[str, Any] = dict(asked(kind).example)
    path = route.path
    for name in [name for name in params if "{" + name + "}" in path]:
        path = path.replace("{" + name + "}", quote(str(params.pop(name)), safe=""))
    assert "{" not in path, f"{kind.name}: its example lacks a parameter of {route.path}"
    if route.method == "DELETE":
        reply = call(api.handler, "DELETE", path + (f"?{urlencode(params)}" if params else ""))
    elif route.body == "none":
        reply = call(api.handler, route.method, path)
    else:
        reply = call(api.handler, route.method, path, params)
    assert reply.status == 202, (kind.name, reply.body)
    [op] = plane.ops.values()
    assert op.kind == kind.name
    context = Context(now=utcnow(), hub_instance_type=plane.hub_instance_type)
    assert op.params == kind.parse(dict(asked(kind).example), context)


def hubctl_root() -> Any:
    """The root command of the `hubctl` console script, whatever module holds the commands (Typer's
    commands are click's in shape: ``commands`` by name, ``params`` with their ``opts``)."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module = import_module(scripts["hubctl"].split(":")[0])
    return typer.main.get_command(module.app)


@pytest.mark.parametrize("kind", REQUESTED, ids=lambda k: k.name)
def test_a_kind_the_instructor_asks_for_has_its_hubctl_command(kind: Kind) -> None:
    words = asked(kind).command.split()
    options = [word for word in words if word.startswith("--")]
    command = hubctl_root()
    for word in [word for word in words if not word.startswith("--")]:
        below = getattr(command, "commands", {})
        assert word in below, f"{kind.name}: no command 'hubctl {asked(kind).command}'"
        command = below[word]
    given = {opt for param in command.params for opt in param.opts}
    assert set(options) <= given, f"{kind.name}: 'hubctl {' '.join(words)}' lacks {set(options) - given}"


def test_every_action_a_schedule_fires_is_a_scheduled_kind() -> None:
    """The stack's recurring and session schedules, and the one-time stops the control plane creates."""
    workshop = config.parse(
        {
            "schedule": {"morning_start": {"time": "08:00"}, "night_stop": {"time": "22:00"}},
            "sessions": [
                {
                    "date": "2099-12-03",
                    "start": "09:00",
                    "end": "17:00",
                    "instance_type": "t3.xlarge",
                    "signup": True,
                }
            ],
        }
    )
    # The one-time schedules the control plane creates: a postponed night stop, the door's closing.
    created = {"postponed-stop", "signup-close"}
    fired = {spec.payload["action"] for spec in schedules.schedule_specs(workshop)} | created
    assert fired == {kind.name for kind in SCHEDULED}

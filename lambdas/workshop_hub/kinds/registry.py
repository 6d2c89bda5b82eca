"""The table of every kind of operation, built from the family modules.

To add a kind: define it in its family's module (or a new module listed in FAMILIES), with its params
model, workflow and hooks; give a new call of the hub's machine its port (ports.py), adapter
(adapters/ec2.py) and twin (tests/support/twins.py), its grant (stacks/constructs/control_functions.py)
and, for the instructor's kinds, the hubctl command its ``Instructor`` names (the API route comes from the
kind itself) and a row in tests/infra/test_production_wiring.py. mypy, tests/unit/test_kinds_complete.py,
the production-wiring test and the IAM contract check fail until each is there (README: "Adding a kind").
"""

from __future__ import annotations

from workshop_hub.errors import InvalidRequest
from workshop_hub.kinds import (
    data,
    initial_passwords,
    keep_awake,
    night_stop,
    packages,
    power,
    reconcile,
    resize,
    signup,
    users,
    volume,
)
from workshop_hub.kinds.kind import SCHEDULE, Kind

FAMILIES = (
    power,
    resize,
    volume,
    users,
    initial_passwords,
    data,
    packages,
    keep_awake,
    night_stop,
    reconcile,
    signup,
)
REGISTRY: dict[str, Kind] = {kind.name: kind for family in FAMILIES for kind in family.KINDS}

REQUESTED = tuple(kind for kind in REGISTRY.values() if kind.instructor is not None)
SCHEDULED = tuple(kind for kind in REGISTRY.values() if kind.asked_by == SCHEDULE)


def named(name: str) -> Kind:
    kind = REGISTRY.get(name)
    if kind is None:
        raise InvalidRequest(
            "kind", f"is not an operation (one of: {', '.join(k.name for k in REQUESTED)})", name
        )
    return kind

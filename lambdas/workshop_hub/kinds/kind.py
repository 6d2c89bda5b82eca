"""What a kind of operation is: its params model, what its request checks and records before anything
runs, its workflow and its hooks, and who asks for it (the instructor through a route and a hubctl
command, a schedule, or the control plane itself). Each family module (power.py, resize.py, ...) defines
its kinds with these; registry.py is the table of them all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from workshop_hub.kinds.params import Context, Params
from workshop_hub.run import Run
from workshop_hub.services import Services

Workflow = Callable[[Run], "dict[str, Any] | None"]
Check = Callable[[Services, dict[str, Any]], dict[str, Any]]
Record = Callable[[Services, dict[str, Any]], None]


@dataclass(frozen=True)
class Route:
    """The kind's route in the HTTP API. ``{field}`` in the path is that parameter; the others come from
    the JSON body (POST) or the query string (DELETE)."""

    method: Literal["POST", "DELETE"]
    path: str
    body: Literal["required", "optional", "none"] = "required"


@dataclass(frozen=True)
class Instructor:
    """Asked for by the instructor: through ``route``, and with the hubctl ``command`` (its words after
    ``hubctl``, and the option that asks for this kind, if it is one)."""

    route: Route
    command: str
    example: Mapping[str, Any]  # valid parameters: the docs show them, a test sends them to the route


SCHEDULE: Final = "schedule"  # EventBridge Scheduler starts it (the schedule function)
CONTROL_PLANE: Final = "control plane"  # the control plane starts it itself
AskedBy = Instructor | Literal["schedule", "control plane"]


@dataclass(frozen=True)
class SensitiveParams:
    """Parameters an operation must never record (password hashes): ``keep`` stores them in their own item
    under the operation's id at submit and returns the parameters to record; the workflow's step that
    needs them reads them there; ``forget`` deletes them in the operation's last step (``label``), on
    every path."""

    keep: Callable[[Services, str, dict[str, Any]], dict[str, Any]]
    forget: Callable[[Services, str], None]
    label: str


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[Params]
    asked_by: AskedBy
    workflow: Workflow | None = None  # None: recording is the whole operation (it succeeds at once)
    lease: bool = True  # changes the hub: waits for its turn, one at a time
    check: Check | None = None  # at submit, with the state, before anything is recorded: may refuse
    record: Record | None = None  # the desired state, written before the operation runs
    syncs_roster: bool = False  # records roster entries: answered with the roster sync that applies them
    after_failure: Callable[[Run], None] | None = None
    sensitive: SensitiveParams | None = None

    def parse(self, params: object, context: Context) -> dict[str, Any]:
        """The parameters to record, checked (InvalidRequest naming the field and the rule)."""
        return self.params.parse(self.name, params, context).record()

    @property
    def instructor(self) -> Instructor | None:
        return self.asked_by if isinstance(self.asked_by, Instructor) else None

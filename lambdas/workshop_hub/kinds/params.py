"""What every kind's params model is built from: one base model, field types over hubagent's rules (the
one rule module, also the SSM documents' allowedPattern and hubagent's own check), and the one
translation of a refusal into InvalidRequest, naming the field and the rule.

The API, the schedules and the control plane's own starts all go through ``Params.parse``: a request is
checked once, in one place, before anything is recorded. Extra fields are refused: a misspelt
``"forse": true`` must not silently mean ``force: false``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Self

from hubagent import rules
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import ErrorDetails

from workshop_hub import ec2_rules
from workshop_hub.config import MAX_VOLUME_GIB
from workshop_hub.errors import InvalidRequest

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Context:
    """What a check may need besides the request: the time, and the deployed hub's instance type (a
    resize never crosses its architecture)."""

    now: dt.datetime
    hub_instance_type: str


class Params(BaseModel):
    """A kind's parameters as a request gives them; ``record()`` is what the operation keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, kind: str, params: object, context: Context) -> Self:
        """``params`` checked; raises InvalidRequest naming the first problem (``.more``: the others)."""
        if not isinstance(params, dict):
            raise InvalidRequest("body", "must be a JSON object")
        try:
            return cls.model_validate(params, context=context)
        except ValidationError as err:
            problems = list(dict.fromkeys(cls._problem(kind, e) for e in err.errors()))
            first, *more = [InvalidRequest(field, rule, value) for field, rule, value in problems]
            first.more = more
            raise first from None

    def record(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def shows_value(cls, location: Location) -> bool:
        """Whether a refusal at ``location`` may quote the value sent (never a password or its hash)."""
        return True

    @classmethod
    def rule_for(cls, location: Location, error_type: str) -> tuple[Location, str] | None:
        """A kind's own wording for one of pydantic's refusals: (where, rule), or None."""
        return None

    @classmethod
    def _problem(cls, kind: str, error: ErrorDetails) -> tuple[str, str, object]:
        """(field, rule, value shown) of one of pydantic's refusals."""
        location = tuple(error["loc"])
        field = _path(location) or "body"
        value: object = error.get("input")
        cause = (error.get("ctx") or {}).get("error")
        own = cls.rule_for(location, error["type"])
        if own is not None:
            (where, rule), value = own, None
            field = _path(where)
        elif isinstance(cause, rules.RuleError | InvalidRequest):
            field, rule, value = cause.field or field, cause.rule, cause.value
        elif error["type"] == "missing":
            rule, value = "is required", None
        elif error["type"] == "extra_forbidden":
            rule, value = "is not a known field", None
            if len(location) == 1:
                rule += f" of {kind} (fields: {', '.join(cls.model_fields) or 'none'})"
        else:
            message = error["msg"].removeprefix("Value error, ")
            rule = message[:1].lower() + message[1:]
        if isinstance(value, dict | list) or not cls.shows_value(location):
            value = None
        return field, rule, value


def _path(location: Location) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# --- field types -----------------------------------------------------------------------------------


def _rule(check: Callable[[object, str], str]) -> BeforeValidator:
    # The field's name comes from pydantic's location when the refusal is shown.
    return BeforeValidator(lambda value: check(value, ""))


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise rules.RuleError("", value, "must be true or false")
    return value


def _git_ref(value: object) -> str | None:
    return None if value is None else rules.check_git_ref(value, "")


def _size_gib(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VOLUME_GIB:
        raise rules.RuleError("", value, f"must be a whole number of GiB up to {MAX_VOLUME_GIB} (gp3 limit)")
    return value


def _manager(value: object) -> str:
    if value not in rules.PACKAGE_RULES:
        raise rules.RuleError("", value, "must be 'pip' or 'conda'")
    return str(value)


def context_of(info: ValidationInfo) -> Context:
    if not isinstance(info.context, Context):
        raise TypeError("params are checked with a Context: Params.parse(kind, params, context)")
    return info.context


def _hub_architecture(value: str, info: ValidationInfo) -> str:
    """A type change never crosses architectures: the hub's image is the deployed hub.instance_type's."""
    reason = ec2_rules.architecture_mismatch(value, context_of(info).hub_instance_type)
    if reason is not None:
        raise rules.RuleError("", value, reason)
    return value


EXAMPLE_TIME = "2026-12-03T23:00+01:00"


def aware_time(value: object) -> dt.datetime:
    """An ISO 8601 date and time that says its time zone."""
    if not isinstance(value, str):
        raise rules.RuleError("", value, f"must be an ISO 8601 date and time such as {EXAMPLE_TIME}")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise rules.RuleError("", value, f"is not an ISO 8601 date and time such as {EXAMPLE_TIME}") from None
    if moment.tzinfo is None:
        raise rules.RuleError("", value, "must say its time zone (e.g. +01:00 or Z)")
    return moment


def names(maximum: int) -> BeforeValidator:
    """A list of 1 to ``maximum`` entries (each checked by the item's own type)."""

    def check(value: object) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise rules.RuleError("", value, "must be a non-empty list")
        if len(value) > maximum:
            raise rules.RuleError("", None, f"must have at most {maximum} entries (got {len(value)})")
        return value

    return BeforeValidator(check)


def unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


Flag = Annotated[bool, BeforeValidator(_flag)]
Username = Annotated[str, _rule(rules.check_username)]
# A real participant's name: the rehearsal's prefix is kept for its throwaway participant.
ParticipantName = Annotated[str, _rule(rules.check_participant_name)]
DataName = Annotated[str, _rule(rules.check_data_name)]
GitUrl = Annotated[str, _rule(rules.check_git_url)]
GitRef = Annotated[str | None, BeforeValidator(_git_ref)]
InstanceType = Annotated[str, _rule(rules.check_instance_type)]
# A type the hub can be resized to: a valid type of the hub's own architecture.
HubInstanceType = Annotated[InstanceType, AfterValidator(_hub_architecture)]
SizeGib = Annotated[int, BeforeValidator(_size_gib)]
Manager = Annotated[str, BeforeValidator(_manager)]
ScheduledTime = Annotated[str, Field(strict=True, max_length=64)]
AwareTime = Annotated[dt.datetime, BeforeValidator(aware_time)]


class Scheduled(Params):
    """A schedule's parameters. ``scheduled_time`` is when Scheduler fired it (the control plane keys the
    operation with it against a redelivery); a kind records it only where its workflow needs it."""

    scheduled_time: ScheduledTime | None = Field(default=None, exclude=True)

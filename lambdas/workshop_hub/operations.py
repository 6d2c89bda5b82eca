"""Operations: what an instructor (or a schedule, or the control plane itself) asked for, its
parameters, and its recorded steps. The record is changed only through these methods, each given the
time, so every store keeps the same record."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from workshop_hub.times import iso, parse_time


def new_operation_id(now: dt.datetime) -> str:
    # Sorts by creation time, so the store lists the latest operations with one query.
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"op-{stamp}-{secrets.token_hex(3)}"


@dataclass
class Step:
    name: str
    state: str  # running | succeeded | failed
    started_at: str
    ended_at: str | None = None
    detail: str = ""


@dataclass
class Operation:
    id: str
    kind: str
    params: dict[str, Any]
    created_at: str
    state: str = "queued"  # queued (accepted, waiting for its turn), running, succeeded, failed
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    idempotency_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        steps = [Step(**step) for step in data.get("steps", [])]
        return cls(**{**data, "steps": steps})

    @property
    def ended(self) -> bool:
        return self.state in ("succeeded", "failed")

    @property
    def duration_s(self) -> float | None:
        if not self.started_at or not self.ended_at:
            return None
        return (parse_time(self.ended_at) - parse_time(self.started_at)).total_seconds()

    def summary(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "kind", "state", "created_at", "ended_at", "error")}

    def begin_step(self, name: str, now: dt.datetime, *, starts_work: bool = True) -> None:
        """A step starts: recorded as running (once, even when a replay runs the step again). The
        operation itself is running from its first step of work (waiting for its turn is not work)."""
        at = iso(now)
        if self.state == "queued" and starts_work:
            self.state, self.started_at = "running", at
        last = self.steps[-1] if self.steps else None
        if last is None or last.name != name or last.state != "running":
            self.steps.append(Step(name=name, state="running", started_at=at))

    def end_step(self, name: str, state: str, detail: str, now: dt.datetime) -> None:
        at = iso(now)
        step = next((st for st in reversed(self.steps) if st.name == name and st.state == "running"), None)
        if step is None:
            step = Step(name=name, state=state, started_at=at)
            self.steps.append(step)
        step.state, step.detail, step.ended_at = state, detail, at

    def end(
        self, state: str, now: dt.datetime, *, error: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        at = iso(now)
        self.state, self.error, self.ended_at = state, error, at
        self.started_at = self.started_at or at
        if result:
            self.result.update(result)
        for step in self.steps:
            if step.state == "running":  # cut short by the execution's end
                step.state, step.ended_at = "failed", at

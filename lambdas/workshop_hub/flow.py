"""One operation's durable execution, read top to bottom: every effect is a checkpointed step, every
wait a durable wait. The Flow records each step in the operation's record (GET /operations/{id}
shows them live) and carries the domain's errors across the step boundary as values, so a replay
raises exactly what the first run raised.

A step body runs at least once per attempt; a crash inside it runs it again on the next invocation.
Every step here is safe to repeat (a start of a running instance, a conditional write, hubagent's
idempotent actions). Code outside steps runs again on every replay: it only decides, it never acts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.exceptions import CallbackError
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision

from workshop_hub import errors
from workshop_hub.operations import Operation
from workshop_hub.ports import AgentError, AgentFailed, AgentOffline, AgentTimeout, CommandLost
from workshop_hub.times import iso, parse_time

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python import DurableContext

    from workshop_hub.stores import OperationLog

T = TypeVar("T")

# Errors the domain understands: a step that raises one of these has an outcome, not a bug.
DOMAIN_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        errors.OperationFailed,
        errors.InsufficientCapacity,
        errors.TypeUnsupported,
        errors.HubUnhealthy,
        errors.NeverRunning,
        errors.Refused,
        errors.VolumeChangeRefused,
        errors.InvalidRequest,
        AgentError,
        AgentOffline,
        AgentTimeout,
        AgentFailed,
        CommandLost,
    )
}
# Unexpected errors (throttling, a bug) get a few quick retries before the step fails.
UNEXPECTED_RETRIES = StepConfig(retry_strategy=RetryPresets.transient())


def outcome_of(err: Exception) -> dict[str, Any]:
    out: dict[str, Any] = {"error": type(err).__name__, "message": str(err)}
    if isinstance(err, AgentError) and err.result:
        out["result"] = err.result
    if isinstance(err, errors.Refused) and err.possible_at:
        out["possible_at"] = err.possible_at.isoformat()
    return out


def rebuild(outcome: dict[str, Any]) -> Exception:
    """The exception a step raised, from its checkpointed outcome."""
    cls = DOMAIN_ERRORS.get(outcome["error"], errors.OperationFailed)
    message = outcome["message"]
    if issubclass(cls, AgentError):
        return cls(message, outcome.get("result"))
    if issubclass(cls, errors.Refused):
        at = outcome.get("possible_at")
        return cls(message, dt.datetime.fromisoformat(at) if at else None)
    if cls is errors.InvalidRequest:
        return errors.OperationFailed(message)
    return cls(message)


def _domain(err: Exception) -> bool:
    return isinstance(err, tuple(DOMAIN_ERRORS.values()))


class Flow:
    def __init__(
        self, context: DurableContext, op_id: str, log: OperationLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self.context = context
        self.op_id = op_id
        self.log = log
        self.clock = clock

    def _change(self, change: Callable[[Operation], None]) -> None:
        """Record a change of the operation (a step begins or ends) for GET /operations/{id}."""
        op = self.log.get(self.op_id)
        if op is None:
            raise LookupError(f"no operation {self.op_id}")
        change(op)
        self.log.save(op)

    def _begin(self, name: str, *, starts_work: bool = True) -> None:
        self._change(lambda op: op.begin_step(name, self.clock(), starts_work=starts_work))

    def _end(self, name: str, state: str, detail: str = "") -> None:
        self._change(lambda op: op.end_step(name, state, detail, self.clock()))

    def step(
        self,
        name: str,
        action: Callable[[], T],
        *,
        detail: Callable[[T], str] | None = None,
        record: bool = True,
    ) -> T:
        """Run ``action`` once (checkpointed) and return its value; its domain error is raised here,
        on the first run and on every replay alike."""

        def body(_: Any) -> dict[str, Any]:
            if record:
                self._begin(name)
            try:
                value = action()
            except Exception as err:
                if record:
                    self._end(name, "failed", str(err))
                if _domain(err):
                    return outcome_of(err)
                raise
            if record:
                self._end(name, "succeeded", detail(value) if detail else "")
            return {"value": value}

        outcome: dict[str, Any] = self.context.step(body, name=name[:200], config=UNEXPECTED_RETRIES)
        if "error" in outcome:
            raise rebuild(outcome)
        value: T = outcome["value"]
        return value

    def note(self, name: str, detail: str = "") -> None:
        self.step(name, lambda: None, detail=lambda _: detail)

    def sleep(self, name: str, seconds: int) -> None:
        """A durable wait: no compute while it lasts, whatever the 15-minute limit of one invocation."""
        self.note(name)
        self.context.wait(Duration.from_seconds(max(1, seconds)), name=name[:200])

    def wait_until(
        self,
        name: str,
        probe: Callable[[], T | None],
        *,
        every_s: int,
        timeout_s: int,
        on_timeout: Callable[[str], Exception],
        detail: Callable[[T], str] | None = None,
        max_every_s: int | None = None,
        is_work: bool = True,
    ) -> T:
        """Ask ``probe`` until it returns a value, with a durable wait between asks: ``every_s`` at
        first, growing by half each time up to ``max_every_s`` (default: no growth). After
        ``timeout_s`` seconds of waiting, raise ``on_timeout(last note)``. The probe raises a domain
        error to stop at once, returns None to wait on, and may leave a note (``Flow.waiting``)."""
        ceiling = max(every_s, max_every_s or every_s)

        def check(state: dict[str, Any], _: Any) -> dict[str, Any]:
            if state["attempt"] == 0:
                self._begin(name, starts_work=is_work)
            self._last_note = ""
            attempt = state["attempt"] + 1
            self.ask = attempt  # checkpointed with the state: the same number on a replay
            try:
                value = probe()
            except Exception as err:
                if not _domain(err):
                    raise
                self._end(name, "failed", str(err))
                return {**state, "attempt": attempt, "outcome": outcome_of(err)}
            if value is not None:
                self._end(name, "succeeded", detail(value) if detail else "")
                return {**state, "attempt": attempt, "outcome": {"value": value}}
            delay = min(ceiling, max(1, round(every_s * 1.5 ** (attempt - 1))))
            if state["waited"] + delay > timeout_s:
                self._end(name, "failed", self._last_note or "timed out")
                return {**state, "attempt": attempt, "note": self._last_note, "delay": 0}
            return {
                **state,
                "attempt": attempt,
                "note": self._last_note,
                "delay": delay,
                "waited": state["waited"] + delay,
            }

        def strategy(state: dict[str, Any], _: int) -> WaitForConditionDecision:
            if "outcome" in state or not state.get("delay"):
                return WaitForConditionDecision.stop_polling()
            return WaitForConditionDecision.continue_waiting(Duration.from_seconds(state["delay"]))

        final: dict[str, Any] = self.context.wait_for_condition(
            check,
            WaitForConditionConfig(
                wait_strategy=strategy, initial_state={"attempt": 0, "note": "", "waited": 0}
            ),
            name=name[:200],
        )
        outcome = final.get("outcome")
        if outcome is None:
            raise on_timeout(str(final.get("note") or ""))
        if "error" in outcome:
            raise rebuild(outcome)
        value: T = outcome["value"]
        return value

    def command(
        self,
        name: str,
        send: Callable[[], str],
        poll: Callable[[str], dict[str, Any] | None],
        give_up: Callable[[str, int], Exception],
        *,
        every_s: int,
        max_every_s: int,
        bound_s: int,
        detail: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        """A command on the instance, recorded as one step ``name``: ``send`` it (one durable step; it
        returns the command's id), then ``poll`` it between durable waits until it has a result, so it
        may run far longer than one invocation. Past ``bound_s`` seconds of waiting, ``give_up`` on it
        (in a step: it cancels the command) and raise what that returns."""

        def sent() -> str:
            self._begin(name)
            try:
                return send()
            except Exception as err:
                if _domain(err):
                    self._end(name, "failed", str(err))
                raise

        command_id = self.step(f"{name}: send", sent, record=False)

        class OutOfTime(Exception):
            pass

        try:
            return self.wait_until(
                name,
                lambda: poll(command_id),
                every_s=every_s,
                max_every_s=max_every_s,
                timeout_s=bound_s,
                on_timeout=lambda _: OutOfTime(),
                detail=detail,
            )
        except OutOfTime:

            def expire() -> None:
                raise give_up(command_id, bound_s)

            self.step(f"{name}: give up", expire, record=False)
            raise AssertionError("give_up returned no error") from None

    def wait_for_call(
        self,
        name: str,
        probe: Callable[[str], T | None],
        *,
        every_s: int,
        max_every_s: int,
        timeout_s: int,
        on_timeout: Callable[[str], Exception],
        is_work: bool = True,
    ) -> T:
        """Ask ``probe`` until it returns a value; between asks, suspend on a durable callback that whoever
        learns its id may complete (SendDurableExecutionCallbackSuccess) to make it ask again at once.

        ``probe(callback_id)`` first records ``callback_id`` where the one who will call finds it, then
        looks (record first, so a call made between the look and the suspension is never lost); an
        empty id means "just look" (the first ask, and the ask right after a call). A callback nobody
        completes times out after ``every_s`` seconds, growing by half each round up to ``max_every_s``:
        the fallback poll, for a caller that crashed before calling. After ``timeout_s`` seconds of
        waiting, raise ``on_timeout(last note)``; a domain error from the probe stops at once."""

        def ask(number: int, callback_id: str, first_at: str | None, delay: int) -> Callable[[Any], Any]:
            def body(_: Any) -> dict[str, Any]:
                now = self.clock()
                if number == 1:
                    self._begin(name, starts_work=is_work)
                self._last_note = ""
                self.ask = number
                try:
                    value = probe(callback_id)
                except Exception as err:
                    if not _domain(err):
                        raise
                    self._end(name, "failed", str(err))
                    return {"outcome": outcome_of(err)}
                if value is not None:
                    self._end(name, "succeeded")
                    return {"outcome": {"value": value}}
                start = parse_time(first_at) if first_at else now
                if (now - start).total_seconds() + delay > timeout_s:
                    self._end(name, "failed", self._last_note or "timed out")
                    return {"timed_out": self._last_note}
                return {"at": iso(now), "note": self._last_note}

            return body

        def looked(number: int, callback_id: str, first_at: str | None, delay: int) -> dict[str, Any]:
            answer: dict[str, Any] = self.context.step(
                ask(number, callback_id, first_at, delay),
                name=f"{name}: ask {number}"[:200],
                config=UNEXPECTED_RETRIES,
            )
            if "timed_out" in answer:
                raise on_timeout(str(answer["timed_out"] or ""))
            outcome = answer.get("outcome")
            if outcome is not None and "error" in outcome:
                raise rebuild(outcome)
            return answer

        number = 1
        answer = looked(number, "", None, 0)
        first_at = answer.get("at")
        rounds = 0
        while "outcome" not in answer:
            rounds += 1
            delay = min(max(every_s, max_every_s), max(1, round(every_s * 1.5 ** (rounds - 1))))
            callback = self.context.create_callback(
                name=f"{name}: call {rounds}"[:200],
                config=CallbackConfig(timeout=Duration.from_seconds(delay)),
            )
            number += 1
            answer = looked(number, callback.callback_id, first_at, delay)
            if "outcome" in answer:
                break
            # Suspends until called, or until its timeout (nobody called: look again all the same).
            with contextlib.suppress(CallbackError):
                callback.result()
            number += 1
            answer = looked(number, "", first_at, 0)
        value: T = answer["outcome"]["value"]
        return value

    _last_note = ""
    ask = 0  # inside a wait_until probe: which ask this is (1, 2, ...)

    def waiting(self, note: str) -> None:
        """Called by a probe: why it is still waiting (the timeout's message names it)."""
        self._last_note = note

"""A Run: one operation's flow, services and parameters, and the building blocks every workflow
uses (settle the instance, power it on and off, wait for the hub, run a hubagent action)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from workshop_hub.errors import HubUnhealthy, NeverRunning, OperationFailed
from workshop_hub.flow import Flow
from workshop_hub.operations import Operation
from workshop_hub.ports import AgentError, AgentOffline, CommandLost, active_count, command_timeout, run_now
from workshop_hub.services import Services
from workshop_hub.times import iso, parse_time


@dataclass
class Run:
    flow: Flow
    services: Services
    op: Operation
    result: dict[str, Any] = field(default_factory=dict)  # filled deterministically: replays rebuild it

    @property
    def params(self) -> dict[str, Any]:
        return self.op.params

    def now(self) -> dt.datetime:
        """The time, checkpointed: a replay sees the same instant."""
        return parse_time(self.flow.step("read the clock", lambda: iso(self.services.clock()), record=False))

    def state(self) -> str:
        return self.flow.step(
            "read the instance state", lambda: self.services.hub.describe().state, record=False
        )

    def instance_type(self) -> str:
        return self.flow.step(
            "read the instance type", lambda: self.services.hub.describe().instance_type, record=False
        )

    # --- the instance -----------------------------------------------------------------------------

    def wait_for_state(self, target: str, label: str = "") -> None:
        hub, t = self.services.hub, self.services.timeouts
        # EC2's Describe* is eventually consistent: just after StartInstances it may still say 'stopped'.
        # From the third ask on (10 s and more after the start), that answer means the start did not take.
        settled_from_ask = 3

        def probe() -> str | None:
            state = hub.describe().state
            if state == target:
                return state
            fallen_back = state in ("stopped", "terminated", "shutting-down")
            if target == "running" and fallen_back and self.flow.ask >= settled_from_ask:
                raise NeverRunning(f"the instance went to '{state}' instead of running")
            self.flow.waiting(f"still '{state}'")
            return None

        self.flow.wait_until(
            label or f"wait for {target}",
            probe,
            every_s=t.state_every_s,
            timeout_s=t.state_s,
            on_timeout=lambda note: (
                NeverRunning(
                    f"the instance did not reach '{target}' within {t.state_s} s ({note or 'no answer'})"
                )
                if target == "running"
                else OperationFailed(f"the instance did not reach '{target}' within {t.state_s} s ({note})")
            ),
        )

    def settle(self) -> str:
        """The instance's state once it is not between states."""
        state = self.state()
        if state == "pending":
            self.wait_for_state("running", "wait for running (was starting)")
            return "running"
        if state in ("stopping", "shutting-down"):
            self.wait_for_state("stopped", "wait for stopped (was stopping)")
            return "stopped"
        return state

    def power_on(self, prefix: str = "") -> None:
        self.flow.step(f"{prefix}start instance", self.services.hub.start)
        self.wait_for_state("running", f"{prefix}wait for running")

    def power_off(self, prefix: str = "") -> None:
        self.flow.step(f"{prefix}stop instance", self.services.hub.stop)
        self.wait_for_state("stopped", f"{prefix}wait for stopped")

    # --- the hub, through hubagent ----------------------------------------------------------------

    def command(
        self,
        label: str,
        action: str,
        params: Mapping[str, str] | Callable[[], Mapping[str, str]],
        *,
        detail: Callable[[dict[str, Any]], str] | None = None,
        secret: bool = False,
    ) -> dict[str, Any]:
        """One hubagent action, recorded as the step ``label``: sent in one step, then awaited between
        durable waits, so it may run as long as its own time limit (ports.command_timeout: the SSM
        document's timeoutSeconds, after which SSM ends it), whatever one invocation's 15 minutes.
        ``params`` may be a function, called inside the send step (values never checkpointed);
        ``secret``: an AWS error on sending is reported by its code only (its text may quote them)."""
        commands, t = self.services.commands, self.services.timeouts
        limit = command_timeout(action)

        def send() -> str:
            values = params() if callable(params) else params
            try:
                return commands.send(action, values)
            except ClientError as err:
                if not secret:
                    raise
                code = err.response.get("Error", {}).get("Code", "ClientError")
                raise OperationFailed(f"SSM did not take {action} ({code})") from None

        def await_(name: str) -> dict[str, Any]:
            return self.flow.command(
                name,
                send,
                lambda command_id: commands.result(command_id, action),
                lambda command_id, waited_s: commands.give_up(command_id, action, waited_s),
                every_s=t.command_every_s,
                # A long command is asked about less often: each ask replays the execution.
                max_every_s=max(t.command_max_every_s, limit // t.command_asks),
                # SSM ends it by then: undelivered after its limit, or run past it. A backstop only.
                bound_s=2 * limit + 60,
                detail=detail or _changed,
            )

        try:
            return await_(label)
        except CommandLost:  # its runner restarted (the sandbox): hubagent's actions are idempotent
            return await_(f"{label} (sent again)")

    def wait_for_hub(self, label: str = "wait for hub health") -> dict[str, Any]:
        t = self.services.timeouts

        def probe() -> dict[str, Any] | None:
            try:
                # Awaited inside a step (as signup-list's pages are): health is short (its limit is 60 s),
                # and this look repeats between durable waits anyway.
                result = run_now(self.services.commands, "health", {}, command_timeout("health"))
            except AgentError as err:
                self.flow.waiting(str(err))
                return None
            if not result.get("hub_ok", True):
                self.flow.waiting(str(result.get("hub_error") or "the hub API does not answer"))
                return None
            if not result.get("installed", True):
                self.flow.waiting("the TLJH installation has not finished")
                return None
            return result

        return self.flow.wait_until(
            label,
            probe,
            every_s=t.health_every_s,
            timeout_s=t.hub_health_s,
            on_timeout=lambda note: HubUnhealthy(
                f"the hub did not become healthy within {t.hub_health_s} s: {note or 'no answer'}"
            ),
            detail=lambda r: f"hub {r.get('hub_version') or 'answers'}",
        )

    def on_hub(
        self, action: str, params: dict[str, str], *, label: str = "", defer: str = ""
    ) -> dict[str, Any] | None:
        """Run one hubagent action now, or (hub not running) record ``defer`` for the next reconcile."""
        state = self.state()
        if state != "running":
            if defer:
                self.flow.step(
                    f"deferred: hub {state}; applied by the reconcile at the next start",
                    lambda: self.services.stores.desired.defer(defer),
                )
                self.result["deferred"] = True
            return None
        try:
            return self.command(label or action, action, params)
        except AgentOffline as err:
            if defer:
                self.flow.step(
                    "deferred: the agent is offline", lambda: self.services.stores.desired.defer(defer)
                )
            raise OperationFailed(
                f"the hub agent is offline ({err}); the request is recorded and will be applied by the "
                "reconcile at the next start"
            ) from None

    def refuse_if_active(self, verb: str) -> None:
        """Participants active in the last active_minutes: refuse (the instructor may force it)."""
        active = self.active_users()
        if active:
            minutes = self.services.config.schedule.active_minutes
            raise OperationFailed(
                f"not {verb}: {len(active)} user(s) active in the last {minutes} minutes "
                f"({', '.join(active)}); use force to go ahead anyway"
            )

    def active_users(self) -> list[str]:
        """Users active in the last active_minutes; an unreachable hub counts as nobody (and says so)."""
        minutes = self.services.config.schedule.active_minutes

        def named(result: dict[str, Any]) -> list[str]:
            active = [str(name) for name in result.get("active_users", [])]
            hidden = active_count(result) - len(active)
            if hidden > 0:  # the names were cut to fit SSM's output; the count is exact
                active.append(f"{hidden} more")
            return active

        def note(result: dict[str, Any]) -> str:
            active = named(result)
            return f"active: {', '.join(active)}" if active else "nobody active"

        label = f"check activity (last {minutes} min)"
        try:
            result = self.command(label, "activity", {"Minutes": str(minutes)}, detail=note)
        except AgentError as err:
            # The check's own step says why (failed, with the agent's error); the hub counts as idle.
            self.flow.note("nobody counted as active: the hub did not answer", type(err).__name__)
            return []
        return named(result)


def _changed(result: dict[str, Any]) -> str:
    return "changed" if result.get("changed") else "unchanged"

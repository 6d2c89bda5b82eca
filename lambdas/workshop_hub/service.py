"""The control plane: what the API, the worker, the reconcile and the schedules call.

``submit`` checks a request, takes the hub (one mutating operation at a time), records the desired
state, stores the operation as queued and hands it to a worker; ``run`` executes its steps, each
recorded with its times, and releases the hub whatever happens.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hubagent.rules import MAX_USERS_PER_REQUEST

from workshop_hub import schedules
from workshop_hub.config import WorkshopConfig
from workshop_hub.errors import (
    Conflict,
    HubUnhealthy,
    InsufficientCapacity,
    InvalidRequest,
    OperationFailed,
    OutOfTime,
    Refused,
)
from workshop_hub.operations import Operation, Step, iso, new_operation_id, parse_params, parse_time, utcnow
from workshop_hub.ports import AgentError, AgentOffline, Dispatcher, InstanceCommands
from workshop_hub.settings import Settings
from workshop_hub.store import RosterEntry, Store, package_key

if TYPE_CHECKING:
    from workshop_hub.adapters.ec2 import HubInstance, VolumeView
    from workshop_hub.adapters.scheduler import OneTimeSchedules

log = logging.getLogger("workshop_hub")

# EBS allows one modification of a volume every 6 hours.
VOLUME_WINDOW = dt.timedelta(hours=6)
SNAPSHOT_TAGS = ("workshop-hub:hub", "workshop-hub:reason")


@dataclass(frozen=True)
class Timeouts:
    hub_health_s: float = 600  # a started hub must answer hubagent health within this
    health_poll_s: float = 15
    status_health_s: int = 10  # status asks for health, briefly
    command_s: int = 600  # users, data sync, disk grow
    packages_s: int = 780  # stays inside the worker's 15 minutes
    volume_s: float = 600  # until the modification is 'optimizing'
    volume_poll_s: float = 10
    retry_minutes: int = 5  # a scheduled action that met a running operation tries again
    step_margin_s: float = 45  # a step starts only with this much of the worker's time left
    rollback_reserve_s: float = 240  # a resize waits for the hub only while this much stays for a rollback


class ControlPlane:
    def __init__(
        self,
        *,
        settings: Settings,
        config: WorkshopConfig,
        store: Store,
        hub: HubInstance,
        commands: InstanceCommands,
        schedules: OneTimeSchedules,
        dispatcher: Dispatcher,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.hub = hub
        self.commands = commands
        self.one_time = schedules
        self.dispatcher = dispatcher
        self.clock = clock
        self.sleep = sleep
        self.timeouts = timeouts
        # Seconds left in the current worker invocation (None: no limit); set by run().
        self.time_left: Callable[[], float] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ControlPlane:
        """Built from the function's environment (see settings.py), with boto3's default session."""
        import boto3

        from workshop_hub import config as config_module
        from workshop_hub.adapters.dispatch import LambdaDispatcher
        from workshop_hub.adapters.ec2 import HubInstance
        from workshop_hub.adapters.scheduler import OneTimeSchedules
        from workshop_hub.adapters.ssm_commands import SsmCommands

        settings = Settings.from_env(environ)
        config = config_module.from_json(settings.config_path.read_text(encoding="utf-8"))
        ec2 = boto3.client("ec2")
        return cls(
            settings=settings,
            config=config,
            store=Store(boto3.client("dynamodb"), settings.table_name),
            hub=HubInstance(ec2, settings.instance_id, settings.volume_id),
            commands=SsmCommands(boto3.client("ssm"), ec2, settings.instance_id, settings.document_names),
            schedules=OneTimeSchedules(
                boto3.client("scheduler"),
                settings.schedule_group,
                settings.schedule_target_arn,
                settings.scheduler_role_arn,
            ),
            dispatcher=LambdaDispatcher(boto3.client("lambda"), settings.worker_function_name),
        )

    # --- reading ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.clock()
        view = self.hub.describe()
        volume = self.hub.volume()
        health: dict[str, Any] | None = None
        if view.state == "running":
            try:
                health = self.commands.run("health", {}, timeout_s=self.timeouts.status_health_s)
            except AgentError as err:
                health = {"ok": False, "hub_ok": False, "error": str(err)}
        desired = self.store.desired()
        return {
            "instance": {
                "id": self.settings.instance_id,
                "state": view.state,
                "type": view.instance_type,
                "public_ip": view.public_ip,
            },
            "hub_url": self.settings.hub_url,
            "volume_id": volume.volume_id,
            "volume_gib": volume.size_gib,
            "volume_last_modified": iso(volume.last_modified) if volume.last_modified else None,
            "schedule": schedules.summary(self.config, now),
            "keep_awake_until": desired.keep_awake_until,
            "everyday_instance_type": desired.instance_type or self.config.hub.instance_type,
            "hub_health": health,
            "operation_in_progress": self.store.lock_holder(),
            "last_operations": [op.summary() for op in self.store.recent_operations(5)],
        }

    def roster(self) -> list[dict[str, Any]]:
        return [entry.to_dict() for entry in self.store.roster()]

    def operation(self, op_id: str) -> Operation | None:
        return self.store.operation(op_id)

    # --- submitting ------------------------------------------------------------------------

    def submit(self, kind: str, params: dict[str, Any], idempotency_key: str | None = None) -> Operation:
        """Check, record, lock, queue and dispatch. Raises InvalidRequest, Refused or Conflict."""
        now = self.clock()
        if idempotency_key:
            earlier = self._by_idempotency_key(idempotency_key, kind)
            if earlier is not None:
                return earlier
        checked = self._complete(kind, parse_params(kind, params, now))
        op = Operation(
            id=new_operation_id(now),
            kind=kind,
            params=checked,
            created_at=iso(now),
            idempotency_key=idempotency_key,
        )
        if kind == "keep-awake":
            return self._keep_awake(op)
        try:
            replaced = self.store.acquire_lock(op.id, kind)
        except Conflict:
            # A retry of the very request that holds the hub gets that operation, not a 409.
            earlier = self._by_idempotency_key(idempotency_key, kind) if idempotency_key else None
            if earlier is not None:
                return earlier
            raise
        try:
            if idempotency_key and not self.store.claim_idempotency_key(idempotency_key, op.id, kind):
                self.store.release_lock(op.id)
                earlier = self._by_idempotency_key(idempotency_key, kind)
                if earlier is not None:
                    return earlier
                raise Conflict("unknown", kind)
            if replaced:
                self._abandon(replaced)
            self._record(kind, checked)
            self.store.save_operation(op)
        except BaseException:
            self.store.release_lock(op.id)
            raise
        log.info("operation queued", extra={"operation_id": op.id, "kind": kind})
        try:
            self.dispatcher.dispatch(op.id)
        except Exception as err:
            op.state, op.error, op.ended_at = (
                "failed",
                f"could not hand the operation to a worker: {err}",
                iso(self.clock()),
            )
            self.store.save_operation(op)
            self.store.release_lock(op.id)
            raise
        return self.store.operation(op.id) or op

    def _by_idempotency_key(self, key: str, kind: str) -> Operation | None:
        found = self.store.idempotent_operation(key)
        if found is None:
            return None
        op_id, earlier_kind = found
        if earlier_kind != kind:
            raise InvalidRequest("Idempotency-Key", f"was already used for a {earlier_kind} request", key)
        return self.store.operation(op_id)

    def _complete(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Checks that need the desired state or AWS, still before anything is recorded."""
        if kind == "data-sync" and "repo" not in params:
            known = self._data_repos().get(params["name"])
            if known is None:
                raise InvalidRequest("repo", "is required for a data repo that is not configured yet", None)
            params = {**params, "repo": known["repo"], "ref": params["ref"] or known.get("ref")}
        if kind == "grow":
            self._check_grow(params["size_gib"])
        return params

    def _keep_awake(self, op: Operation) -> Operation:
        if op.idempotency_key and not self.store.claim_idempotency_key(op.idempotency_key, op.id, op.kind):
            earlier = self._by_idempotency_key(op.idempotency_key, op.kind)
            if earlier is not None:
                return earlier
        # Only recorded: the night stop reads it. No instance work, so no lock.
        self.store.set_desired(keep_awake_until=op.params["until"])
        now = iso(self.clock())
        op.state, op.started_at, op.ended_at = "succeeded", now, now
        op.steps.append(Step(f"recorded keep-awake until {op.params['until']}", "succeeded", now, now))
        op.result = {"keep_awake_until": op.params["until"]}
        self.store.save_operation(op)
        return op

    def _record(self, kind: str, params: dict[str, Any]) -> None:
        """The desired state first: what cannot be applied now is applied at the next start."""
        if kind == "resize":
            self.store.set_desired(instance_type=params["instance_type"])
        elif kind == "grow":
            self.store.set_desired(volume_gib=params["size_gib"])
        elif kind == "data-sync":
            self.store.put_data_repo(params["name"], params["repo"], params["ref"])
        elif kind == "packages":
            self.store.put_packages(params["manager"], params["packages"])
        elif kind == "users-add":
            known = {e.username: e for e in self.store.roster(include_removing=True)}
            now = iso(self.clock())
            entries = []
            for name in params["usernames"]:
                entry = known.get(name)
                admin = params["admin"] or bool(entry and entry.admin and not entry.removing)
                on_hub = bool(entry and entry.on_hub and not entry.removing and entry.admin == admin)
                added = entry.added_at if entry and not entry.removing else now
                entries.append(RosterEntry(name, admin=admin, on_hub=on_hub, added_at=added))
            self.store.put_users(entries)
        elif kind == "users-remove":
            entry = next(
                (e for e in self.store.roster(include_removing=True) if e.username == params["username"]),
                None,
            )
            added = entry.added_at if entry else iso(self.clock())
            self.store.put_user(
                RosterEntry(
                    params["username"],
                    admin=False,
                    on_hub=bool(entry and entry.on_hub),
                    added_at=added,
                    removing=True,
                )
            )

    def _abandon(self, op_id: str) -> None:
        stale = self.store.operation(op_id)
        if stale is not None and stale.state in ("queued", "running"):
            stale.state = "failed"
            stale.error = "its worker stopped without finishing; the hub's lock expired and was taken over"
            stale.ended_at = iso(self.clock())
            self.store.save_operation(stale)

    # --- triggers other than the API -------------------------------------------------------

    def reconcile_on_running(self) -> Operation | None:
        """The instance reached running. If another operation holds the hub (a resize that started it),
        mark a reconcile as pending: the operation runs it when it ends."""
        try:
            return self.submit("reconcile", {})
        except Conflict:
            self.store.set_desired(reconcile_pending=True)
            if self.store.lock_holder() is None:  # it ended in between
                try:
                    return self.submit("reconcile", {})
                except Conflict:
                    pass
            return None

    def scheduled(self, action: str, payload: dict[str, Any]) -> Operation | None:
        """A schedule fired. Its scheduled time keys the operation, so a redelivery does not repeat it."""
        params = {k: v for k, v in payload.items() if k != "action"}
        fired = str(params.get("scheduled_time") or "")
        if not fired or fired.startswith("<"):
            params.pop("scheduled_time", None)
        if action not in ("night-stop",):
            params.pop("scheduled_time", None)
        key = f"schedule:{action}:{fired}" if fired and not fired.startswith("<") else None
        try:
            return self.submit(action, params, idempotency_key=key)
        except Conflict as busy:
            retry_at = self.clock() + dt.timedelta(minutes=self.timeouts.retry_minutes)
            tz = self.config.schedule.timezone
            name = f"{action}-retry-{retry_at.astimezone(ZoneInfo(tz)):%Y%m%dT%H%M%S}"
            self.one_time.create(name, retry_at, tz, {"action": action, **params})
            log.warning(
                "scheduled action deferred",
                extra={"action": action, "busy": busy.operation_id, "retry": name},
            )
            return None

    # --- running ---------------------------------------------------------------------------

    def run(self, op_id: str, time_left: Callable[[], float] | None = None) -> Operation | None:
        """Execute a queued operation's steps (the worker calls this). Never raises for the
        operation's own failures: they are recorded. Releases the hub at the end.

        ``time_left`` gives the seconds left in the worker's invocation (Lambda stops a function after
        15 minutes): a step starts only with enough time left, and hubagent commands get at most what
        remains, so the operation ends failed between steps rather than cut off inside one."""
        op = self.store.operation(op_id)
        if op is None or op.state != "queued":
            return op
        if not self.store.claim_operation(op):
            return self.store.operation(op_id)
        self.time_left = time_left
        try:
            op.result.update(self._work(op) or {})
            op.state = "succeeded"
        except Exception as err:
            op.state = "failed"
            op.error = str(err) or type(err).__name__
            if isinstance(err, AgentError) and err.result:
                op.result.setdefault("agent", err.result)
            if not isinstance(
                err, OperationFailed | AgentError | HubUnhealthy | InsufficientCapacity | Refused
            ):
                log.exception("operation failed unexpectedly", extra={"operation_id": op.id})
        finally:
            self.time_left = None
            op.ended_at = iso(self.clock())
            self.store.save_operation(op)
            self.store.release_lock(op.id)
        self._after(op)
        return op

    def _command(self, action: str, params: dict[str, str], timeout_s: int) -> dict[str, Any]:
        """Run a hubagent action, within the worker's time left."""
        if self.time_left is not None:
            timeout_s = max(10, min(timeout_s, int(self.time_left() - self.timeouts.step_margin_s / 3)))
        return self.commands.run(action, params, timeout_s)

    def _after(self, op: Operation) -> None:
        if op.kind == "reconcile" or not self.store.desired().reconcile_pending:
            return
        if self.hub.describe().state == "running":
            with suppress(Conflict):
                self.submit("reconcile", {})

    @contextmanager
    def _step(self, op: Operation, name: str) -> Iterator[Step]:
        if self.time_left is not None:
            left = self.time_left()
            if left < self.timeouts.step_margin_s:
                raise OutOfTime(name, left)
        step = Step(name=name, state="running", started_at=iso(self.clock()))
        op.steps.append(step)
        self.store.save_operation(op)
        try:
            yield step
        except BaseException as err:
            step.state = "failed"
            step.detail = step.detail or str(err)
            raise
        else:
            step.state = "succeeded"
        finally:
            step.ended_at = iso(self.clock())
            self.store.save_operation(op)

    def _note(self, op: Operation, name: str, detail: str = "") -> None:
        with self._step(op, name) as step:
            step.detail = detail

    def _work(self, op: Operation) -> dict[str, Any] | None:
        kind, p = op.kind, op.params
        if kind in ("start", "morning-start"):
            return self._start(op)
        if kind == "stop":
            return self._stop(op, force=p["force"])
        if kind == "resize":
            return self._resize(op, p["instance_type"], end="as-before")
        if kind == "session-prepare":
            return self._resize(op, p["instance_type"], end="running")
        if kind == "session-end":
            return self._session_end(op)
        if kind == "grow":
            return self._grow(op, p["size_gib"])
        if kind in ("night-stop", "postponed-stop"):
            return self._night_stop(op)
        if kind == "reconcile":
            return self._reconcile(op)
        if kind == "data-sync":
            params = {"Name": p["name"], "Repo": p["repo"], "Ref": p["ref"] or ""}
            return self._on_hub(op, "data-sync", params, "synced", self.timeouts.command_s)
        if kind == "packages":
            params = {"Manager": p["manager"], "Packages": " ".join(p["packages"])}
            return self._on_hub(op, "packages-install", params, "installed", self.timeouts.packages_s)
        if kind == "users-add":
            return self._users_add(op)
        if kind == "users-remove":
            return self._users_remove(op)
        raise OperationFailed(f"no worker for operation kind {kind}")

    # --- the instance ----------------------------------------------------------------------

    def _settle(self, op: Operation) -> str:
        """The instance's state once it is not between states."""
        state = self.hub.describe().state
        if state == "pending":
            with self._step(op, "wait for running (was starting)"):
                self.hub.wait_running()
            return "running"
        if state in ("stopping", "shutting-down"):
            with self._step(op, "wait for stopped (was stopping)"):
                self.hub.wait_stopped()
            return "stopped"
        return state

    def _power_on(self, op: Operation) -> None:
        with self._step(op, "start instance"):
            self.hub.start()
        with self._step(op, "wait for running"):
            self.hub.wait_running()

    def _power_off(self, op: Operation) -> None:
        with self._step(op, "stop instance"):
            self.hub.stop()
        with self._step(op, "wait for stopped"):
            self.hub.wait_stopped()

    def _start(self, op: Operation) -> dict[str, Any]:
        if self._settle(op) == "running":
            self._note(op, "already running")
            return {"state": "running"}
        try:
            self._power_on(op)
        except InsufficientCapacity as err:
            view = self.hub.describe()
            raise OperationFailed(
                f"EC2 has no {view.instance_type} capacity in the hub's zone right now ({err}); "
                "try again in a few minutes or resize to another type"
            ) from None
        return {"state": "running", "instance_type": self.hub.describe().instance_type}

    def _active_users(self, op: Operation) -> tuple[list[str], str]:
        """Users active in the last active_minutes; an unreachable hub counts as no activity (and says so)."""
        minutes = self.config.schedule.active_minutes
        with self._step(op, f"check activity (last {minutes} min)") as step:
            try:
                result = self._command("activity", {"Minutes": str(minutes)}, timeout_s=60)
            except AgentError as err:
                step.detail = f"hub did not answer ({err}); treating it as inactive"
                return [], step.detail
            active = [str(name) for name in result.get("active_users", [])]
            step.detail = f"active: {', '.join(active)}" if active else "nobody active"
            return active, step.detail

    def _stop(self, op: Operation, *, force: bool) -> dict[str, Any]:
        state = self._settle(op)
        if state == "stopped":
            self._note(op, "already stopped")
            return {"state": "stopped"}
        if not force:
            active, _ = self._active_users(op)
            if active:
                raise OperationFailed(
                    f"not stopped: {len(active)} user(s) active in the last {self.config.schedule.active_minutes} "
                    f"minutes ({', '.join(active)}); stop with force to stop anyway"
                )
        self._power_off(op)
        return {"state": "stopped"}

    def _wait_for_hub(self, op: Operation, timeout_s: float | None = None) -> dict[str, Any]:
        timeout_s = self.timeouts.hub_health_s if timeout_s is None else timeout_s
        if self.time_left is not None:
            # Give up early enough that a resize can still roll back inside the worker's time.
            timeout_s = max(30.0, min(timeout_s, self.time_left() - self.timeouts.rollback_reserve_s))
        with self._step(op, "wait for hub health") as step:
            deadline = self.clock() + dt.timedelta(seconds=timeout_s)
            while True:
                try:
                    result = self._command("health", {}, timeout_s=60)
                    if result.get("hub_ok", True) and result.get("installed", True):
                        step.detail = f"hub {result.get('hub_version') or 'answers'}"
                        return result
                    if not result.get("hub_ok", True):
                        last = str(result.get("hub_error") or "the hub API does not answer")
                    else:
                        last = "the TLJH installation has not finished"

                except AgentError as err:
                    last = str(err)
                if self.clock() >= deadline:
                    raise HubUnhealthy(f"the hub did not become healthy within {timeout_s:.0f} s: {last}")
                self.sleep(self.timeouts.health_poll_s)

    def _resize(self, op: Operation, target: str, *, end: str) -> dict[str, Any]:
        """end: 'as-before' (an instructor's resize), 'running' (session prepare), 'stopped' (session end)."""
        state = self._settle(op)
        old = self.hub.describe().instance_type
        was_running = state == "running"
        want_running = {"as-before": was_running, "running": True, "stopped": False}[end]
        result: dict[str, Any] = {"from": old, "to": target}
        if old == target:
            self._note(op, f"type is already {target}")
            if want_running and not was_running:
                self._start(op)
                self._wait_for_hub(op)
            elif was_running and not want_running:
                self._power_off(op)
            return {**result, "changed": False, "state": "running" if want_running else "stopped"}
        if was_running:
            self._power_off(op)
        with self._step(op, f"change type {old} -> {target}"):
            self.hub.set_instance_type(target)
        if not want_running:
            return {**result, "changed": True, "state": "stopped"}
        try:
            self._power_on(op)
            self._wait_for_hub(op)
        except (InsufficientCapacity, HubUnhealthy) as err:
            why = (
                f"EC2 has no {target} capacity right now ({err})"
                if isinstance(err, InsufficientCapacity)
                else str(err)
            )
            self._roll_back(op, old, why)
        return {**result, "changed": True, "state": "running"}

    def _roll_back(self, op: Operation, old: str, why: str) -> None:
        # A rollback runs to its end whatever the worker's clock says: the hub must not stay stopped.
        time_left, self.time_left = self.time_left, None
        try:
            with self._step(op, f"roll back to {old}"):
                state = self._settle(op)
                if state == "running":
                    self.hub.stop()
                    self.hub.wait_stopped()
                self.hub.set_instance_type(old)
                self.hub.start()
                self.hub.wait_running()
        except Exception as err:
            raise OperationFailed(f"{why}; rolling back to {old} failed too: {err}") from None
        finally:
            self.time_left = time_left
        raise OperationFailed(f"{why}; rolled back: the hub runs as {old} again")

    def _session_end(self, op: Operation) -> dict[str, Any]:
        everyday = self.store.desired().instance_type or self.config.hub.instance_type
        if self._keep_awake_until() is not None:
            self._note(op, "keep-awake is set: the hub stays up after the resize")
            return self._resize(op, everyday, end="running")
        return self._resize(op, everyday, end="stopped")

    def _keep_awake_until(self) -> dt.datetime | None:
        until = self.store.desired().keep_awake_until
        if until and parse_time(until) > self.clock():
            return parse_time(until)
        return None

    # --- the night stop --------------------------------------------------------------------

    def _night_stop(self, op: Operation) -> dict[str, Any]:
        now = self.clock()
        sched = self.config.schedule
        keep = self._keep_awake_until()
        if keep is not None:
            self._note(op, f"skipped: keep-awake until {iso(keep)}")
            return {"stopped": False, "reason": "keep-awake", "keep_awake_until": iso(keep)}
        if "deadline" in op.params:
            deadline = parse_time(op.params["deadline"])
        else:
            fired = op.params.get("scheduled_time")
            deadline = schedules.stop_deadline(parse_time(fired) if fired else now, sched)
        state = self._settle(op)
        if state == "stopped":
            self._note(op, "already stopped")
            return {"stopped": True}
        if now < deadline:
            active, _ = self._active_users(op)
            if active:
                at = schedules.next_try(now, sched.postpone_minutes, deadline)
                local = at.astimezone(ZoneInfo(sched.timezone))
                with self._step(op, f"postpone the stop to {local:%H:%M}") as step:
                    self.one_time.create(
                        f"postponed-stop-{local:%Y%m%dT%H%M%S}",
                        at,
                        sched.timezone,
                        {"action": "postponed-stop", "deadline": iso(deadline)},
                    )
                    step.detail = (
                        f"{', '.join(active)} active; deadline {deadline.astimezone(local.tzinfo):%H:%M}"
                    )
                return {
                    "stopped": False,
                    "postponed_until": iso(at),
                    "deadline": iso(deadline),
                    "active_users": active,
                }
        else:
            self._note(op, "deadline reached: stopping whatever the activity")
        self._power_off(op)
        return {"stopped": True}

    # --- the volume ------------------------------------------------------------------------

    def _check_grow(self, size_gib: int) -> VolumeView:
        volume = self.hub.volume()
        if size_gib <= volume.size_gib:
            raise InvalidRequest(
                "size_gib",
                f"must be larger than the volume's current {volume.size_gib} GiB (EBS volumes only grow)",
                size_gib,
            )
        if volume.last_modified is not None:
            possible = volume.last_modified + VOLUME_WINDOW
            if possible > self.clock():
                raise Refused(
                    f"the volume was last modified at {iso(volume.last_modified)}; EBS allows the next change "
                    f"from {iso(possible)}",
                    possible,
                )
        return volume

    def _grow(self, op: Operation, size_gib: int) -> dict[str, Any]:
        with self._step(op, "check the volume") as step:
            volume = self._check_grow(size_gib)
            step.detail = f"{volume.volume_id}: {volume.size_gib} GiB"
        with self._step(op, "snapshot before growing") as step:
            snapshot = self.hub.snapshot(
                f"{self.settings.hub_name}: before growing {volume.size_gib} -> {size_gib} GiB",
                {SNAPSHOT_TAGS[0]: self.settings.hub_name, SNAPSHOT_TAGS[1]: "pre-grow"},
            )
            step.detail = snapshot
        with self._step(op, f"modify volume {volume.size_gib} -> {size_gib} GiB"):
            self.hub.modify_volume(size_gib)
        with self._step(op, "wait for optimizing") as step:
            step.detail = self.hub.wait_volume_usable(self.timeouts.volume_s, self.timeouts.volume_poll_s)
        result: dict[str, Any] = {
            "volume_id": volume.volume_id,
            "old_gib": volume.size_gib,
            "new_gib": size_gib,
            "snapshot_id": snapshot,
        }
        try:
            disk = self._on_hub(op, "disk-grow", {}, "grown", self.timeouts.command_s)
        except (AgentError, OperationFailed) as err:
            raise OperationFailed(
                f"the volume is now {size_gib} GiB but the filesystem did not grow: {err}; the next reconcile retries"
            ) from None
        result["filesystem"] = disk
        return result

    # --- work on the hub through hubagent --------------------------------------------------

    def _on_hub(
        self, op: Operation, action: str, params: dict[str, str], done: str, timeout_s: int, label: str = ""
    ) -> dict[str, Any] | None:
        """Run one hubagent action, or record why it waits for the next start."""
        state = self.hub.describe().state
        if state != "running":
            when = "when it is running" if state == "pending" else "at next start"
            self._note(op, f"deferred: hub {state}, will be {done} {when}")
            return None
        with self._step(op, label or action) as step:
            try:
                result = self._command(action, params, timeout_s)
            except AgentOffline as err:
                raise OperationFailed(
                    f"the hub agent is offline ({err}); the request is recorded and will be applied by the "
                    "reconcile at the next start"
                ) from None
            step.detail = "changed" if result.get("changed") else "unchanged"
        return result

    def _users_add(self, op: Operation) -> dict[str, Any] | None:
        names, admin = op.params["usernames"], op.params["admin"]
        result = self._on_hub(
            op,
            "users-add",
            {"Usernames": " ".join(names), "Admin": "true" if admin else "false"},
            "created",
            self.timeouts.command_s,
        )
        if result is not None:
            self._mark_on_hub(set(names))
        return result

    def _users_remove(self, op: Operation) -> dict[str, Any] | None:
        name = op.params["username"]
        result = self._on_hub(op, "users-remove", {"Username": name}, "removed", self.timeouts.command_s)
        if result is not None:
            self.store.delete_user(name)
        return result

    def _mark_on_hub(self, names: set[str]) -> None:
        self.store.put_users(
            [
                RosterEntry(e.username, e.admin, True, e.added_at)
                for e in self.store.roster()
                if e.username in names and not e.on_hub
            ]
        )

    # --- reconcile -------------------------------------------------------------------------

    def _data_repos(self) -> dict[str, dict[str, str | None]]:
        repos: dict[str, dict[str, str | None]] = {
            r.name: {"repo": r.repo, "ref": r.ref} for r in self.config.data_repos
        }
        repos.update(self.store.desired().data_repos)
        return repos

    def _packages(self) -> dict[str, list[str]]:
        wanted: dict[str, str] = {}
        for manager, specs in (("pip", self.config.packages.pip), ("conda", self.config.packages.conda)):
            for spec in specs:
                wanted[package_key(manager, spec)] = spec
        for manager, specs in self.store.desired().packages.items():
            for spec in specs:
                wanted[package_key(manager, spec)] = spec
        by_manager: dict[str, list[str]] = {}
        for key, spec in sorted(wanted.items()):
            by_manager.setdefault(key.split("#", 1)[0], []).append(spec)
        return by_manager

    def _reconcile(self, op: Operation) -> dict[str, Any]:
        """Bring the running hub to the desired state. Each part is tried; failures are listed at the end."""
        self.store.set_desired(reconcile_pending=False)
        state = self._settle(op)
        if state != "running":
            self._note(op, f"skipped: hub is {state}; the next start reconciles")
            return {"changed": False, "skipped": state}
        self._wait_for_hub(op)
        results: dict[str, Any] = {}
        failures: list[str] = []

        def attempt(label: str, action: str, params: dict[str, str], timeout_s: int) -> dict[str, Any] | None:
            try:
                with self._step(op, label) as step:
                    result = self._command(action, params, timeout_s)
                    step.detail = "changed" if result.get("changed") else "unchanged"
            except Exception as err:
                failures.append(f"{label}: {err}")
                return None
            results[label] = result
            return result

        attempt("disk-grow", "disk-grow", {}, self.timeouts.command_s)
        listing = attempt("users-list", "users-list", {}, self.timeouts.command_s)
        if listing is not None:
            on_hub = {str(u["name"]): bool(u.get("admin")) for u in listing.get("users", [])}
            roster = self.store.roster(include_removing=True)
            for entry in [e for e in roster if e.removing]:
                if entry.username not in on_hub or attempt(
                    f"users-remove {entry.username}",
                    "users-remove",
                    {"Username": entry.username},
                    self.timeouts.command_s,
                ):
                    self.store.delete_user(entry.username)
            kept = [e for e in roster if not e.removing]
            for admin in (True, False):
                missing = [
                    e.username
                    for e in kept
                    if e.admin == admin and (e.username not in on_hub or (admin and not on_hub[e.username]))
                ]
                for start in range(0, len(missing), MAX_USERS_PER_REQUEST):
                    chunk = missing[start : start + MAX_USERS_PER_REQUEST]
                    params = {"Usernames": " ".join(chunk), "Admin": "true" if admin else "false"}
                    if attempt(
                        f"users-add admin={str(admin).lower()} ({len(chunk)})",
                        "users-add",
                        params,
                        self.timeouts.command_s,
                    ):
                        on_hub.update(dict.fromkeys(chunk, admin))
            self._mark_on_hub(set(on_hub))
        for name, repo in sorted(self._data_repos().items()):
            params = {"Name": name, "Repo": str(repo["repo"]), "Ref": repo.get("ref") or ""}
            attempt(f"data-sync {name}", "data-sync", params, self.timeouts.command_s)
        for manager, specs in self._packages().items():
            params = {"Manager": manager, "Packages": " ".join(specs)}
            attempt(f"packages-install {manager}", "packages-install", params, self.timeouts.packages_s)
        summary = {"changed": any(r.get("changed") for r in results.values()), "results": results}
        op.result.update(summary)
        if failures:
            raise OperationFailed(f"{len(failures)} part(s) of the reconcile failed: " + "; ".join(failures))
        return summary

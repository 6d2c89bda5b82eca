"""The sandbox's control plane process: the API, the worker, the schedules and the state-change rule.

One process (``python -m sandbox serve ROOT``, started by ``up``) that runs the same handlers
and domain code as the Lambda functions, with moto as AWS:

* the API on 127.0.0.1: each request becomes an API Gateway REST proxy event for handlers.api.handler,
  after ``Authorization: Bearer <token>`` is checked (401 otherwise), the sandbox's stand-in for IAM;
* the worker: each operation a durable execution under the SDK's local runner (Lambda's async invoke);
* EventBridge Scheduler: a clock loop lists the group's schedules in moto and runs each due one's
  target input through handlers.schedule.handler (``at()`` and ``cron()``, in their time zones);
* the EventBridge rule: a watcher runs handlers.reconcile.handler with an "EC2 Instance State-change
  Notification" event when moto's instance reaches ``running``;
* the sandbox's own routes, under /_sandbox/ (same token): GET clock, POST tick {"at": ISO time},
  GET recovery (what this start resumed or ended of the last run's operations).

Before the API answers, recovery.py resumes or ends what a crashed run left (operations, lease, sync).
The API checks the token, then the body's declared length (at most 1 MB), before it reads a byte of it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from sandbox import wiring
from sandbox.apigw import ApiGatewayFront, BodyRefused, LambdaContext
from sandbox.aws import key_env
from sandbox.clock import SandboxClock, firings, is_one_time
from sandbox.layout import ACCOUNT, Layout
from sandbox.recovery import recover

log = logging.getLogger("sandbox")

Handler = Callable[[dict[str, Any], Any], Any]
SCHEDULE_LOOP_S = 5.0
WATCH_LOOP_S = 0.5
# A tick that jumps further than this is a jump: every one-time schedule due in the jumped interval
# fires, and each repeating one fires once, at its latest time in the interval; the earlier times are
# reported as skipped (a person moving the clock to 22:00 wants tonight's night stop, not a week of them).
CATCH_UP = dt.timedelta(minutes=10)


def state_change_event(instance_id: str, state: str, region: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def scheduler_input(text: str, schedule_arn: str, fired_at: dt.datetime) -> Any:
    """A target's Input with Scheduler's context attributes filled in, as Scheduler does."""
    for key, value in {
        "<aws.scheduler.scheduled-time>": fired_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }.items():
        text = text.replace(key, value)
    return json.loads(text) if text.strip() else {}


class Sandbox:
    """The running control plane: handlers wired to the sandbox's adapters, loops, and the API."""

    def __init__(self, layout: Layout, state: dict[str, Any]) -> None:
        self.layout = layout
        self.state = state
        self.clock = SandboxClock(layout.clock_file)
        self.region: str = state["region"]
        self.instance_id: str = state["instance_id"]
        self.group: str = state["schedule_group"]
        self.token = layout.token_file.read_text(encoding="utf-8").strip()
        self._fire_lock = threading.Lock()
        self._last_fire_check = self.clock.now()
        self.skipped: list[dict[str, Any]] = []
        self._last_state: str | None = None
        # Set when the sandbox's own code starts the instance: moto goes stopped -> running at once,
        # faster than a poll can see, and EventBridge would still send the event.
        self.started = threading.Event()
        self._stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.fired: list[dict[str, Any]] = []
        self.ec2 = boto3.client("ec2")
        self.scheduler = boto3.client("scheduler")
        wired = wiring.install(layout, state, self.clock, wiring.Instance(self.instance_state, self.started))
        self.handlers, self.plane, self.executions = wired.handlers, wired.plane, wired.executions
        self.recovered = self._recover()

    def _recover(self) -> list[str]:
        """What the last run left unfinished resumes or ends (recovery.py), before the API answers."""
        try:
            return recover(self.plane.services, self.executions)
        except Exception as err:  # the API still starts; the operations stay as they are, and say so
            log.exception("recovery after the restart")
            return [f"recovery after the restart failed: {type(err).__name__}: {err} (see the control log)"]

    # --- the instance ---------------------------------------------------------------------------

    def instance_state(self) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        return str(reservations[0]["Instances"][0]["State"]["Name"])

    def watch_instance(self) -> None:
        """The EventBridge rule: reconcile when the instance reaches running."""
        while not self._stop.wait(WATCH_LOOP_S):
            try:
                current = self.instance_state()
            except Exception as err:  # moto going away at `down`
                log.debug("instance state: %s", err)
                continue
            previous, self._last_state = self._last_state, current
            changed = previous is not None and previous != current
            if changed:
                log.info("instance %s: %s -> %s", self.instance_id, previous, current)
            if current == "running" and (changed or self.started.is_set()):
                self.started.clear()
                event = state_change_event(self.instance_id, current, self.region, self.clock.now())
                # each event is its own invocation, as EventBridge runs the rule's target
                threading.Thread(target=self._invoke, args=("reconcile", event), daemon=True).start()

    # --- EventBridge Scheduler ------------------------------------------------------------------

    def schedules(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"GroupName": self.group}
            if token:
                kwargs["NextToken"] = token
            page = self.scheduler.list_schedules(**kwargs)
            for item in page.get("Schedules", []):
                found.append(dict(self.scheduler.get_schedule(Name=item["Name"], GroupName=self.group)))
            token = page.get("NextToken")
            if not token:
                return found

    def fire_due(self, after: dt.datetime, until: dt.datetime, *, jump: bool = False) -> list[dict[str, Any]]:
        """Run every enabled schedule's firings in (after, until], oldest first. In a ``jump``, a
        repeating schedule fires at its latest time only; ``self.skipped`` gets the earlier ones."""
        due_now: list[tuple[dt.datetime, dict[str, Any]]] = []
        self.skipped = []
        for schedule in self.schedules():
            if schedule.get("State", "ENABLED") != "ENABLED":
                continue
            expression = schedule["ScheduleExpression"]
            try:
                moments = firings(expression, schedule.get("ScheduleExpressionTimezone"), after, until)
            except ValueError as err:
                log.warning("schedule %s: %s", schedule.get("Name"), err)
                continue
            if jump and len(moments) > 1 and not is_one_time(expression):
                self.skipped.append(
                    {"schedule": schedule["Name"], "due": [m.isoformat() for m in moments[:-1]]}
                )
                moments = moments[-1:]
            due_now += [(moment, schedule) for moment in moments]
        fired = []
        for moment, schedule in sorted(due_now, key=lambda pair: pair[0]):
            target = schedule["Target"]
            payload = scheduler_input(target.get("Input", ""), schedule.get("Arn", ""), moment)
            log.info("schedule %s fires (due %s)", schedule["Name"], moment.isoformat())
            result = self._invoke("schedule", payload)
            fired.append(
                {"schedule": schedule["Name"], "due": moment.isoformat(), "input": payload, "result": result}
            )
            if (
                schedule["ScheduleExpression"].startswith("at(")
                and schedule.get("ActionAfterCompletion") == "DELETE"
            ):
                try:
                    self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=self.group)
                except Exception as err:  # the handler may have deleted it already
                    log.debug("delete %s: %s", schedule["Name"], err)
        self.fired.extend(fired)
        return fired

    def tick(self, at: dt.datetime | None = None) -> dict[str, Any]:
        """Move the clock to ``at`` (None: leave it) and fire what is due since the last check."""
        with self._fire_lock:
            if at is not None:
                self.clock.set(at)
            now = self.clock.now()
            after = self._last_fire_check
            if now < after:
                after = now  # the clock went back: nothing is due
            fired = self.fire_due(after, now, jump=now - after > CATCH_UP)
            self._last_fire_check = now
            return {"now": now.isoformat(), "fired": fired, "skipped": self.skipped}

    def schedule_loop(self) -> None:
        while not self._stop.wait(SCHEDULE_LOOP_S):
            try:
                self.tick()
            except Exception:  # keep the loop alive; the log says what broke
                log.exception("schedule loop")

    # --- handlers -------------------------------------------------------------------------------

    def _invoke(self, which: str, event: dict[str, Any]) -> Any:
        handler: Handler = self.handlers[which]
        try:
            return handler(event, LambdaContext(f"{self.state['hub_name']}-{which}"))
        except Exception as err:  # a Lambda invocation error, as CloudWatch would show it
            log.error("%s handler failed: %s", which, "".join(traceback.format_exception(err)))
            return {"error": f"{type(err).__name__}: {err}"}

    # --- the API --------------------------------------------------------------------------------

    def serve(self, port: int) -> None:
        server = _Front(("127.0.0.1", port), _request_handler(self))
        server.daemon_threads = True
        for target in (self.watch_instance, self.schedule_loop):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self.threads.append(thread)
        log.info("API on http://127.0.0.1:%d", port)
        try:
            server.serve_forever()
        finally:
            self._stop.set()
            server.server_close()


class _Front(ThreadingHTTPServer):
    # A room registering at once: the listen backlog must hold a burst (the default, 5, resets clients).
    request_queue_size = 256
    daemon_threads = True


def _request_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {sandbox.token}".encode()

    class RequestHandler(ApiGatewayFront):
        server_version = "workshop-hub-sandbox"

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _serve(self) -> None:
            # Who calls, then how much: nothing of the body is read before both are checked.
            auth = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(auth, expected):
                self.refuse(
                    401,
                    {
                        "message": "Unauthorized",
                        "error": "a valid 'Authorization: Bearer <token>' "
                        "header is required (the token is in the sandbox's api-token file)",
                    },
                )
                return
            try:
                body = self.read_body()
            except BodyRefused as refused:
                self.refuse(refused.status, {"message": refused.message, "error": refused.message})
                return
            if self.path.startswith("/_sandbox/"):
                self._sandbox_route(body)
                return
            self.forward(sandbox.handlers["api"], LambdaContext(f"{sandbox.state['hub_name']}-api"), body)

        def _sandbox_route(self, body: bytes) -> None:
            path = urlsplit(self.path).path
            if path == "/_sandbox/recovery" and self.command == "GET":
                self.answer_json(200, {"after_restart": sandbox.recovered})
            elif path == "/_sandbox/clock" and self.command == "GET":
                now = sandbox.clock.now()
                self.answer_json(200, {"now": now.isoformat(), "offset_s": sandbox.clock.offset()})
            elif path == "/_sandbox/tick" and self.command == "POST":
                try:
                    data = json.loads(body or b"{}")
                    at = dt.datetime.fromisoformat(data["at"]) if data.get("at") else None
                    if at is not None and at.tzinfo is None:
                        raise ValueError("needs a UTC offset, e.g. 2026-12-03T22:00+01:00")
                except (ValueError, TypeError, KeyError) as err:
                    self.answer_json(422, {"error": f"at: {err}"})
                    return
                self.answer_json(200, sandbox.tick(at))
            else:
                self.answer_json(404, {"error": f"no sandbox route {self.command} {path}"})

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return RequestHandler


def main(root: Path, wait_s: float = 120) -> None:
    """Started by ``up`` while moto is being seeded (this module's imports, the handlers and the domain,
    load meanwhile), then waits for the seeded resources' ids in state.json."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    layout = Layout(root)
    deadline = time.monotonic() + wait_s
    while True:
        state = layout.read_state()
        if state is None:
            raise SystemExit(f"{layout.state_file}: no sandbox state; run `python -m sandbox up`")
        if "lambda_env" in state:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{layout.state_file}: moto was not seeded within {wait_s:.0f} s")
        time.sleep(0.1)
    os.environ.update(state["lambda_env"])
    os.environ.update(key_env(layout))  # the AWS key stays out of state.json
    Sandbox(layout, state).serve(int(state["ports"]["api"]))

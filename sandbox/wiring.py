"""The handlers, wired to the sandbox: each gets a ControlPlane built like handlers/plane.py builds it on
AWS, but with the sandbox's adapters where AWS has no stand-in in moto:

* InstanceCommands: LocalCommands (the SSM document's script run here, hubagent with sandbox paths);
* Executions: the real worker handler under the durable SDK's local runner, waiting for real, its
  executions kept on disk (sandbox.executions: they resume after a crash);
* the clock: the sandbox's clock (``tick --at`` moves it);
* waits poll every second (moto changes state at once), a running command every 2 s at most.

Every handler shares one ControlPlane, as the functions share one table on AWS.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from handlers import api, plane, reconcile, schedule, worker
from workshop_hub import config as config_module
from workshop_hub.adapters.dynamodb import dynamodb_stores
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.adapters.local_commands import LocalCommands
from workshop_hub.adapters.scheduler import EventBridgeSchedules
from workshop_hub.control_plane import ControlPlane
from workshop_hub.deployment import Deployment
from workshop_hub.services import Services, Timeouts

from sandbox.clock import SandboxClock
from sandbox.executions import DurableExecutions
from sandbox.hub import door_environ
from sandbox.layout import Layout, future_environ
from sandbox.procs import mark

Handler = Callable[[dict[str, Any], Any], Any]
# Concurrent API requests the sandbox serves at once (each in an environment of its own, as on Lambda).
API_ENVIRONMENTS = 8


class SandboxCommands:
    """LocalCommands, plus what the sandbox must tell the pretend instance first: before a disk grow,
    the disk's size is moto's volume size (as the instance's kernel would see the grown EBS volume)."""

    def __init__(self, local: Any, volume_gib: Callable[[], int], disk_file: Path) -> None:
        self.local = local
        self.volume_gib = volume_gib
        self.disk_file = disk_file

    def send(self, action: str, params: Mapping[str, str]) -> str:
        if action == "disk-grow":
            try:
                disk = json.loads(self.disk_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                disk = {}
            disk["disk_gib"] = self.volume_gib()
            disk.setdefault("partition_gib", disk["disk_gib"])
            self.disk_file.write_text(json.dumps(disk), encoding="utf-8")
        command_id: str = self.local.send(action, params)
        return command_id

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        answer: dict[str, Any] | None = self.local.result(command_id, action)
        return answer

    def give_up(self, command_id: str, action: str, waited_s: int) -> Any:
        return self.local.give_up(command_id, action, waited_s)


def agent_environ(layout: Layout, state: Mapping[str, Any]) -> dict[str, str]:
    agent_bin = layout.root / "agent" / "bin"
    return {
        "PATH": f"{agent_bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(layout.root),
        "HUBAGENT_HUB_API": state["hub_api_url"],
        # The hub's proxy behind the TLS front, plain http, as TLJH's traefik on port 80 is reached from the
        # instance (rehearse); participants come through the front, as through CloudFront.
        "HUBAGENT_PROXY_URL": f"http://127.0.0.1:{state['ports']['proxy']}",
        "HUBAGENT_TOKEN_FILE": str(layout.hub_token_file),
        "HUBAGENT_TLJH_PREFIX": str(layout.root / "tljh"),
        "HUBAGENT_DATA_ROOT": str(layout.data_root),
        "HUBAGENT_SKEL": str(layout.skel),
        "HUBAGENT_HOMES": str(layout.homes),
        "HUBAGENT_USER_ENV": str(layout.user_env),
        "HUBAGENT_READY_MARKER": str(layout.ready_marker),
        "HUBAGENT_ALLOW_LOCAL_REPOS": "1",
        "HUBAGENT_ROOT_MOUNT": str(layout.root),
        "SANDBOX_DISK_FILE": str(layout.disk_file),
        # health reports this pretend disk and the sandbox's own use of it, not this machine's disk
        "HUBAGENT_SANDBOX_DISK": str(layout.disk_file),
        **mark(layout.root),  # `down` finds a hubagent run (and what it started) a crash left
        **door_environ(layout.hub_dir),
        **future_environ(),
    }


@dataclass(frozen=True)
class Instance:
    """What the wiring needs of the running sandbox's instance: its state in moto, and a signal that the
    sandbox's own code started it (the state-change rule fires when the watcher sees it running)."""

    state: Callable[[], str]
    started: threading.Event


def build_plane(
    layout: Layout,
    state: Mapping[str, Any],
    clock: SandboxClock,
    instance: Instance,
    executions: DurableExecutions,
) -> ControlPlane:
    settings = Deployment.from_env()
    config = config_module.from_json(settings.config_path.read_text(encoding="utf-8"))

    class SandboxHubMachine(Ec2HubMachine):
        def start(self) -> None:
            super().start()
            instance.started.set()

    hub = SandboxHubMachine(boto3.client("ec2"), settings.instance_id, settings.volume_id)
    local = LocalCommands(
        agent=layout.root / "agent",
        environ=agent_environ(layout, state),
        instance_state=instance.state,
        repo_map=lambda url: str(path) if (path := layout.local_repo(url)) is not None else None,
        log_dir=layout.logs,
    )
    commands = SandboxCommands(local, lambda: hub.volume().size_gib, layout.root / "disk.json")
    services = Services(
        deployment=settings,
        config=config,
        stores=dynamodb_stores(boto3.client("dynamodb"), settings.table_name, clock=clock),
        hub=hub,
        commands=commands,
        schedules=EventBridgeSchedules(
            boto3.client("scheduler"),
            settings.schedule_group,
            settings.schedule_target_arn,
            settings.scheduler_role_arn,
        ),
        executions=executions,
        clock=clock,
        # moto changes states at once: ask every second (a durable wait's shortest).
        timeouts=Timeouts(
            state_every_s=1,
            health_every_s=1,
            volume_every_s=1,
            turn_every_s=1,
            hub_health_s=120,
            # A local command's end is seen within 2 s (a replay here costs milliseconds).
            command_max_every_s=2,
            command_asks=100_000,
        ),
    )
    return ControlPlane(services)


class Environments:
    """A function's execution environments: Lambda gives each its own process, so module state (Powertools'
    resolver and Logger keep the event they handle there: two events at once in one module lose each
    other's route, KeyError '_route') is never shared, and each takes one event at a time. Here each
    environment is a fresh import of the handler's module; an event takes a free one, or waits for one."""

    def __init__(self, module: str, count: int) -> None:
        self.free: queue.SimpleQueue[Handler] = queue.SimpleQueue()
        for _ in range(count):
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.loader is not None, module
            environment = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(environment)
            self.free.put(environment.handler)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        handler = self.free.get()
        try:
            return handler(event, context)
        finally:
            self.free.put(handler)


@dataclass(frozen=True)
class Wired:
    handlers: dict[str, Handler]  # by trigger: api, worker, schedule, reconcile
    plane: ControlPlane
    executions: DurableExecutions


def install(layout: Layout, state: Mapping[str, Any], clock: SandboxClock, instance: Instance) -> Wired:
    """Hand each handler module its ControlPlane; returns the handlers by trigger."""
    executions = DurableExecutions(worker.handler, layout.executions)
    control_plane = build_plane(layout, state, clock, instance, executions)
    plane.use_control_plane(control_plane)
    handlers: dict[str, Handler] = {
        "api": Environments(api.__name__, API_ENVIRONMENTS),
        "worker": worker.handler,
        "schedule": schedule.handler,
        "reconcile": reconcile.handler,
    }
    return Wired(handlers, control_plane, executions)

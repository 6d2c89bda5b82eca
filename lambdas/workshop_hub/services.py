"""What the workflows and the front door work with: settings, the workshop's config, the stores and
the adapters, wired once per execution environment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workshop_hub.config import WorkshopConfig
from workshop_hub.operations import utcnow
from workshop_hub.ports import Executions, InstanceCommands
from workshop_hub.settings import Settings
from workshop_hub.store import Stores

if TYPE_CHECKING:
    from workshop_hub.adapters.ec2 import HubInstance
    from workshop_hub.adapters.scheduler import OneTimeSchedules


@dataclass(frozen=True)
class Timeouts:
    """How long each wait may last and how often it asks. A durable wait costs nothing while it lasts,
    so these bound the operation, not one Lambda invocation."""

    state_s: int = 900  # the instance reaches running / stopped
    state_every_s: int = 5
    hub_health_s: int = 600  # a started hub answers hubagent health
    health_every_s: int = 15
    volume_s: int = 1800  # the volume modification reaches optimizing
    volume_every_s: int = 15
    command_s: int = 600  # one hubagent command (inside one step: within one 15-minute invocation)
    packages_s: int = 780
    status_health_s: int = 10  # GET /status asks for health, briefly
    turn_every_s: int = 5  # an operation waiting for the hub asks again, less often as it waits
    turn_max_every_s: int = 60
    turn_s: int = 4 * 3600  # ... for at most this long
    dead_after_s: int = 600  # an operation whose execution Lambda cannot find after this is dead
    reconcile_retries_s: tuple[int, ...] = (60, 300, 900)  # a failed reconcile tries again after these
    roster_retries_s: tuple[int, ...] = (30, 120)
    roster_rounds: int = 20  # a roster that keeps changing: rounds before the sync gives up
    passwords_users_s: int = 300  # initial passwords wait this long for their users to be on the hub
    passwords_every_s: int = 10


@dataclass
class Services:
    settings: Settings
    config: WorkshopConfig
    stores: Stores
    hub: HubInstance
    commands: InstanceCommands
    schedules: OneTimeSchedules
    executions: Executions
    clock: Callable[[], dt.datetime] = utcnow
    timeouts: Timeouts = field(default_factory=Timeouts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Services:
        """Built from the function's environment (settings.py), with boto3's default session."""
        import boto3

        from workshop_hub import config as config_module
        from workshop_hub.adapters.ec2 import HubInstance
        from workshop_hub.adapters.executions import LambdaExecutions
        from workshop_hub.adapters.scheduler import OneTimeSchedules
        from workshop_hub.adapters.ssm_commands import SsmCommands

        settings = Settings.from_env(environ)
        config = config_module.from_json(settings.config_path.read_text(encoding="utf-8"))
        ec2 = boto3.client("ec2")
        parts: dict[str, Any] = {
            "settings": settings,
            "config": config,
            "stores": Stores.over(boto3.client("dynamodb"), settings.table_name),
            "hub": HubInstance(ec2, settings.instance_id, settings.volume_id),
            "commands": SsmCommands(boto3.client("ssm"), ec2, settings.instance_id, settings.document_names),
            "schedules": OneTimeSchedules(
                boto3.client("scheduler"),
                settings.schedule_group,
                settings.schedule_target_arn,
                settings.scheduler_role_arn,
            ),
            "executions": LambdaExecutions(boto3.client("lambda"), settings.worker_function_name),
        }
        parts.update(overrides)
        return cls(**parts)

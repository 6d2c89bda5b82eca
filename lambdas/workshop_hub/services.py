"""What the workflows and the control plane work with: the deployment, the workshop's config, the
stores, the ports and the clock. The handlers wire them once per execution environment
(handlers/plane.py); the sandbox and the tests wire their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from workshop_hub.config import WorkshopConfig
from workshop_hub.deployment import Deployment
from workshop_hub.ports import Executions, HubMachine, InstanceCommands, Schedules
from workshop_hub.stores import Stores
from workshop_hub.times import utcnow


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
    # A hubagent command is sent, then asked for its result between durable waits (from every_s,
    # growing to max_every_s); its time limit is its action's (ports.command_timeout).
    command_every_s: int = 1
    command_max_every_s: int = 20
    command_asks: int = 60  # ...or less often for a long command: about this many asks over its limit
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
    deployment: Deployment
    config: WorkshopConfig
    stores: Stores
    hub: HubMachine
    commands: InstanceCommands
    schedules: Schedules
    executions: Executions
    clock: Callable[[], dt.datetime] = utcnow
    timeouts: Timeouts = field(default_factory=Timeouts)

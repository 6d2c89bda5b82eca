"""Builds the CDK app from a WorkshopConfig: the one place app.py, the tests and the benchmark share.

The feature flags live in cdk.json's "context" and are read here too, so an in-process synth (tests,
bench) and the CDK CLI's synth build the same templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment
from workshop_hub.config import WorkshopConfig, resolve_auto

from stacks import control_stack, hub_stack, nag
from stacks.control_stack import ControlStack
from stacks.hub_stack import HubStack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = PROJECT_ROOT / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise ValueError(f"{path}: 'context' must be an object")
    return context


class WorkshopApp:
    """The app and its stacks; the control stack builds on ``hub``'s attributes."""

    def __init__(self, app: App, hub: HubStack, control: ControlStack) -> None:
        self.app = app
        self.hub = hub
        self.control = control


def build(
    config: WorkshopConfig,
    outdir: str | None = None,
    *,
    account: str | None = None,
    context: dict[str, Any] | None = None,
    checks: bool = True,
) -> WorkshopApp:
    """The app with the hub and control stacks and cdk-nag attached.

    ``account`` None leaves the stacks account-agnostic (offline synth); ``context`` adds to cdk.json's.
    """
    config = resolve_auto(config)  # sessions' 'auto' -> plan.instance_type (or a clear refusal)
    # Defaults only: under the CDK CLI, the context it passes (cdk.json, cdk.context.json, -c) wins.
    app = App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    env = Environment(account=account, region=config.hub.region)
    hub = HubStack(app, hub_stack.stack_name(config), config=config, env=env)
    control = ControlStack(app, control_stack.stack_name(config), config=config, hub=hub, env=env)
    if checks:
        nag.add_checks(app)
    return WorkshopApp(app, hub, control)


def build_app(config: WorkshopConfig, outdir: str | None = None, **kwargs: Any) -> App:
    return build(config, outdir, **kwargs).app

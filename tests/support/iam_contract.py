"""pytest plugin: the IAM contract between the code and the control stack's roles.

While the tests run, every AWS call a Lambda handler makes is recorded (tests/support/iam_calls.py). At
the end the control stack is synthesized once (from workshop.yaml) and each call is checked against THAT
function's role (tests/support/iam_policy.py):

- a call no grant allows fails the run (function, action, resource, the test that made it);
- in a full run (every test file under tests/ collected, none deselected, none failed), a grant no recorded
  call used fails the run too, unless UNUSED_ALLOWED below names it with the reason.

Registered by the root conftest.py. ``-p no:iam_contract`` turns it off; ``IAM_CONTRACT_FULL=1`` asks for
the unused-grant check on a partial run (e.g. after ``-k``), ``IAM_CONTRACT_FULL=0`` skips it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.iam_calls import Call, Recorder
from tests.support.iam_policy import Grant, action_matches, matches, role_policies

ROOT = Path(__file__).resolve().parents[2]

# Grants no test can exercise, each with why. (function or "*", IAM action pattern, resource pattern): reason.
UNUSED_ALLOWED: dict[tuple[str, str, str], str] = {
    (
        "*",
        "logs:CreateLogStream",
        "*",
    ): "Lambda's runtime writes the function's own logs; no code of ours calls it",
    (
        "*",
        "logs:PutLogEvents",
        "*",
    ): "Lambda's runtime writes the function's own logs; no code of ours calls it",
    ("*", "xray:PutTraceSegments", "*"): "Lambda's active tracing sends the segments, not our code",
    ("*", "xray:PutTelemetryRecords", "*"): "Lambda's active tracing sends the telemetry, not our code",
    ("worker", "lambda:CheckpointDurableExecution", "*"): (
        "the durable execution SDK calls it inside Lambda; the local runner the tests use checkpoints in memory"
    ),
    ("worker", "lambda:GetDurableExecutionState", "*"): (
        "the durable execution SDK calls it inside Lambda when it replays; the local runner keeps state in memory"
    ),
    ("worker", "ssm:CancelCommand", "*"): (
        "the same adapter path the api's cancel takes (test_production_wiring); a worker command's timeout "
        "(600 s) is too long to wait for in a test"
    ),
    ("worker", "kms:*", "*"): (
        "only with -c ebs-kms-key-arn: EC2 uses the account's customer-managed EBS key on the worker's behalf "
        "when it starts the instance or snapshots the volume; no code of ours calls KMS"
    ),
}


@dataclass
class Outcome:
    missing: list[tuple[Call, str]] = field(default_factory=list)  # (call, why)
    unused: list[tuple[str, Grant]] = field(default_factory=list)  # (function, grant)
    allowed_but_used: list[tuple[str, str]] = field(default_factory=list)  # allow-list entries a call used
    checked_unused: bool = False
    note: str = ""


def _allowed_unused(function: str, grant: Grant) -> bool:
    return any(
        who in ("*", function) and action_matches(pattern, grant.action) and matches(resource, grant.resource)
        for (who, pattern, resource) in UNUSED_ALLOWED
    )


def check(calls: list[Call], template: dict[str, Any], region: str, hub_name: str, full: bool) -> Outcome:
    """The contract, pure: recorded calls against the roles of ``template``."""
    policies = role_policies(template, region)
    outcome = Outcome(checked_unused=full)
    used: set[tuple[str, Grant]] = set()
    for call in calls:
        policy = policies.get(f"{hub_name}-{call.function}")
        if policy is None:
            outcome.missing.append((call, "no such function in the template"))
            continue
        grants = policy.allows(call.action, call.resource)
        if not grants:
            outcome.missing.append((call, "no statement of its role allows it"))
        used.update((call.function, g) for g in grants)
    for who, pattern, resource in UNUSED_ALLOWED:
        if any(
            who in ("*", c.function) and action_matches(pattern, c.action) and matches(resource, c.resource)
            for c in calls
        ):
            outcome.allowed_but_used.append((who, pattern))
    if full:
        for name, policy in sorted(policies.items()):
            function = name.removeprefix(f"{hub_name}-")
            for grant in policy.grants:
                if (
                    grant.effect == "Allow"
                    and (function, grant) not in used
                    and not _allowed_unused(function, grant)
                ) and (function, grant) not in outcome.unused:
                    outcome.unused.append((function, grant))
    return outcome


def synthesize_control_template() -> tuple[dict[str, Any], str, str]:
    """The control stack's template from workshop.yaml (cdk-nag off: the infra tests run it)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from workshop_hub import config as workshop_config

    from stacks.app_builder import build
    from stacks.control_stack import stack_name

    config = workshop_config.load(ROOT / "workshop.yaml")
    with tempfile.TemporaryDirectory(prefix="iam-contract-") as outdir:
        built = build(config, outdir, checks=False)
        template = built.app.synth().get_stack_by_name(stack_name(config)).template
    return template, config.hub.region, config.hub.name


class IamContract:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorder = Recorder()
        self.collected: set[Path] = set()
        self.deselected = 0
        self.outcome: Outcome | None = None

    # --- hooks -----------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.recorder.install()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        self.recorder.test = item.nodeid
        yield
        self.recorder.test = ""

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected.update(Path(str(item.path)).resolve() for item in items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module skipped as a whole (tests/e2e without credentials) was still part of the run.
        if report.outcome in ("passed", "skipped") and report.nodeid.endswith(".py"):
            self.collected.add((ROOT / report.nodeid).resolve())

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def _full_run(self, session: pytest.Session) -> tuple[bool, str]:
        forced = os.environ.get("IAM_CONTRACT_FULL")
        if forced in ("0", "1"):
            return forced == "1", "IAM_CONTRACT_FULL"
        every = {p.resolve() for p in (ROOT / "tests").rglob("test_*.py")}
        if not every <= self.collected:
            return False, "not every test file ran"
        if self.deselected or session.testsfailed or session.shouldstop:
            return False, "tests were deselected, failed or stopped"
        return True, ""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.recorder.uninstall()
        full, why = self._full_run(session)
        if not self.recorder.calls and not full:
            return
        template, region, hub_name = synthesize_control_template()
        self.outcome = check(self.recorder.calls, template, region, hub_name, full)
        self.outcome.note = why
        if (self.outcome.missing or self.outcome.unused) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        outcome = self.outcome
        if outcome is None:
            return
        write = terminalreporter.write_line
        calls = self.recorder.calls
        functions = sorted({c.function for c in calls})
        terminalreporter.section("IAM contract")
        write(f"{len(calls)} recorded call requirements from {', '.join(functions) or 'no function'}")
        if outcome.missing:
            write("MISSING GRANTS (the call would get AccessDenied on AWS):", red=True, bold=True)
            seen = set()
            for call, why in outcome.missing:
                key = (call.function, call.action, call.resource)
                if key not in seen:
                    seen.add(key)
                    write(
                        f"  {call.function}: {call.action} on {call.resource} ({call.operation}, {why})",
                        red=True,
                    )
                    write(f"      first made by {call.test}")
        if outcome.checked_unused:
            if outcome.unused:
                write("UNUSED GRANTS (no recorded call needs them; remove, or add to UNUSED_ALLOWED with why):",
                      red=True, bold=True)  # fmt: skip
                for function, grant in outcome.unused:
                    write(f"  {function}: {grant.action} on {grant.label}", red=True)
            else:
                write("every grant is used by a recorded call or allow-listed with its reason")
        else:
            write(f"unused grants not checked ({outcome.note})")
        for who, pattern in outcome.allowed_but_used:
            write(
                f"note: UNUSED_ALLOWED[({who!r}, {pattern!r})] is used by a recorded call now: drop the entry"
            )
        if not outcome.missing and not outcome.unused:
            write("every recorded call is allowed by its function's role", green=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(IamContract(config), "iam_contract_session")

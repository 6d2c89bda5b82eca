"""The layers as facts (bench/layout.py reads them from the source): nothing points up a layer (the domain
never imports the handlers, the CLI, the sandbox or its adapters; the stacks never import the CLI; the
sandbox never imports the CLI), no import cycle runs anywhere, and the only imports inside functions are
the ones below, each with why."""

from __future__ import annotations

from pathlib import Path

from bench import layout

ROOT = Path(__file__).resolve().parents[2]
MODULES = layout.parse(ROOT)

# (module, what it imports inside a function): why it cannot be at the top.
INSIDE_FUNCTIONS = {
    ("workshop_hub.config", "yaml"): "the Lambda asset has no PyYAML; the functions read workshop.json",
    ("stacks.preview", "stacks.app_builder"): (
        "aws_cdk takes 2-3.5 s to import: `make plan` reports a broken workshop.yaml before that"
    ),
    # hubctl's start (`hubctl --help`, a command against the sandbox's bearer token): hubctl/aws.py and
    # bench/hubctl_startup.py have the numbers.
    ("hubctl.aws", "boto3"): "~65 ms that only a request to AWS pays",
    ("hubctl.aws", "botocore.auth"): "botocore's SigV4 signer, ~30 ms more, only for a request to AWS",
    ("hubctl.aws", "botocore.awsrequest"): "the signer's request type, with it",
    ("hubctl.commands.hub", "hubctl"): "the cost estimate (~11 ms) only for status --cost",
    ("hubctl.commands.plan", "hubctl.plan"): "nbclient and the kernels' machinery (~1.5 s) only for plan",
    ("hubctl.commands.users", "hubctl"): "bcrypt, QR codes and the sheet (~15 ms) only for users add",
    (
        "hubctl.discovery",
        "workshop_hub",
    ): "the config model (pydantic, ~90 ms) only when workshop.yaml is read",
    ("sandbox.cli", "sandbox"): "the control plane's modules (~1 s) only in the process that serves",
    # hubagent runs one action per SSM command: only that action's module loads.
    (
        "hubagent.cli",
        "hubagent",
    ): "one action's module per command (users, passwords, data, packages, disk...)",
    ("hubagent.cli", "hubagent.hubapi"): "the hub's REST client, only for the actions that talk to the hub",
}


def test_nothing_points_up_a_layer() -> None:
    assert [
        f"{imp.importer}:{imp.line} -> {imp.imported} ({why})" for imp, why in layout.upward(MODULES)
    ] == []


def test_no_import_cycle_runs_anywhere() -> None:
    assert layout.cycles(MODULES) == []


def test_imports_inside_functions_are_the_known_ones() -> None:
    assert set(layout.all_in_function_imports(ROOT)) == set(INSIDE_FUNCTIONS)

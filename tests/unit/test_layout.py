"""The layers as facts (bench/layout.py reads them from the source): nothing in lambdas/ or stacks/ points
up a layer (the domain never imports the handlers, the CLI or its adapters; the stacks never import the
CLI), no import cycle runs through them, and the only imports inside their functions are the ones
below, each with why."""

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
}


def test_nothing_points_up_a_layer() -> None:
    assert [
        f"{imp.importer}:{imp.line} -> {imp.imported} ({why})" for imp, why in layout.upward(MODULES)
    ] == []


def test_no_import_cycle_runs_through_the_lambdas_or_the_stacks() -> None:
    ours = ("workshop_hub", "handlers", "stacks")
    assert [group for group in layout.cycles(MODULES) if any(m.split(".")[0] in ours for m in group)] == []


def test_imports_inside_functions_are_the_known_ones() -> None:
    assert set(layout.all_in_function_imports(ROOT)) == set(INSIDE_FUNCTIONS)

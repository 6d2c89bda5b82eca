"""checkov on the synthesized templates: every finding is skipped in .checkov.yaml with its reason, and
every skip there still matches a finding (a fixed finding's skip goes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import PROJECT_ROOT, Synth

# The scan reads the templates' text, which holds no date: once a run is enough (make test-future skips it).
pytestmark = [pytest.mark.synth, pytest.mark.real_clock("checkov reads template text, which holds no date")]

CONFIG = PROJECT_ROOT / ".checkov.yaml"
CHECKOV = Path(sys.executable).parent / "checkov"


def skipped() -> list[str]:
    return list(yaml.safe_load(CONFIG.read_text())["skip-check"])


def test_every_skip_has_its_reason_on_the_line_above() -> None:
    lines = CONFIG.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.fullmatch(r"\s*- CKV_\w+", line):
            assert lines[number - 1].strip().startswith("#"), (
                f".checkov.yaml:{number + 1}: {line.strip()} has no reason"
            )


def test_checkov_finds_nothing_that_is_not_skipped_with_a_reason(
    default_synth: Synth, custom_synth: Synth
) -> None:
    templates = sorted(
        str(path) for synth in (default_synth, custom_synth) for path in synth.outdir.glob("*.template.json")
    )
    assert len(templates) == 4
    # One run with every check on: its failures must be exactly the skipped checks.
    result = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "--quiet", "--compact", "-o", "json",
         *(arg for t in templates for arg in ("-f", t))],
        capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT / "tests",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed: dict[str, set[str]] = {}
    for report in reports:
        for check in report["results"]["failed_checks"]:
            failed.setdefault(check["check_id"], set()).add(f"{check['resource']} ({check['check_name']})")
    unexplained = {check: where for check, where in failed.items() if check not in skipped()}
    assert unexplained == {}, "fix these, or skip them in .checkov.yaml with the reason"
    stale = [check for check in skipped() if check not in failed]
    assert stale == [], "these skips match no finding any more: remove them from .checkov.yaml"


def test_the_config_file_is_what_checkov_reads(default_synth: Synth) -> None:
    template = str(default_synth.outdir / "workshop-hub-control.template.json")
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "--quiet", "--compact", "-o", "json", "-f", template],
        capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT / "tests",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0 and summary["passed"] > 50

"""The app as a whole: bad settings stop it, cdk-nag guards it, cfn-lint and the CDK CLI accept it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from workshop_hub import config as workshop_config

from stacks import nag

from .conftest import CFN_LINT_DATED, PROJECT_ROOT, Synth, synthesize

pytestmark = pytest.mark.synth

CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"

# Every acknowledgment the hub stack makes, by rule id.
HUB_ACKNOWLEDGMENTS = {
    # CloudFront in front of the hub: no geo restriction, no WAF, no access logs, the default certificate's
    # policy, plain HTTP to the origin (stacks/constructs/hub_front.py says why for each)
    "AwsSolutions-CFR1",
    "AwsSolutions-CFR2",
    "AwsSolutions-CFR3",
    "AwsSolutions-CFR4",
    "AwsSolutions-CFR5",
    "AwsSolutions-EC28",
    "AwsSolutions-EC29",
    "AwsSolutions-SMG4",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    "AwsSolutions-IAM5[Resource::*]",
    # the backups' DLM role: the hub's volume (by tag condition) and the snapshots it makes
    "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-west-1:<AWS::AccountId>:volume/*]",
    "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-west-1::snapshot/*]",
}


def quiet_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_CLI_TELEMETRY="true",
        **extra,
    )
    for name in ("CDK_DEFAULT_ACCOUNT", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    return env


def violations(report_file: Path) -> dict[str, list[str]]:
    report = json.loads(report_file.read_text())
    found: dict[str, list[str]] = {}
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            paths = [c["constructPath"] for c in violation["violatingConstructs"]]
            found.setdefault(violation["ruleName"], []).extend(paths)
    return found


def test_bad_settings_exit_1_with_path_and_rule_before_any_synth(tmp_path: Path) -> None:
    bad = tmp_path / "workshop.yaml"
    bad.write_text(
        (PROJECT_ROOT / "workshop.yaml").read_text().replace("timezone: Europe/Berlin", "timezone: Mars/Base")
    )
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        cwd=tmp_path,
        env=quiet_env(WORKSHOP_CONFIG=str(bad), CDK_OUTDIR=str(outdir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "schedule.timezone: 'Mars/Base' is not an IANA time zone" in result.stderr
    assert not outdir.exists()
    assert not (tmp_path / "cdk.out").exists()
    assert "Traceback" not in result.stderr


def test_bad_settings_report_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "workshop.yaml"
    bad.write_text("hub:\n  volume_gib: 5\n  instance_type: T3 Medium\n")
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        env=quiet_env(WORKSHOP_CONFIG=str(bad), CDK_OUTDIR=str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "hub.volume_gib:" in result.stderr
    assert "hub.instance_type: 'T3 Medium' is not an EC2 instance type" in result.stderr
    assert not (tmp_path / "out").exists()


def suppressed(report_file: Path) -> dict[str, list[tuple[str, str]]]:
    """Acknowledged findings from the report: rule -> [(resource path, reason)]."""
    report = json.loads(report_file.read_text())
    found: dict[str, list[tuple[str, str]]] = {}
    for plugin in report["pluginReports"]:
        for item in plugin.get("suppressedViolations", []):
            for construct in item["violatingConstructs"]:
                found.setdefault(item["ruleName"], []).append((construct["constructPath"], item["reason"]))
    return found


def test_synth_passes_cdk_nag_with_only_the_listed_acknowledgments(default_synth: Synth) -> None:
    report_file = default_synth.outdir / "validation-report.json"
    assert violations(report_file) == {}
    acknowledged = suppressed(report_file)
    hub_rules = {
        rule
        for rule, where in acknowledged.items()
        if any(p.startswith("workshop-hub-hub/") for p, _ in where)
    }
    assert hub_rules == HUB_ACKNOWLEDGMENTS
    assert all(len(reason) > 40 for where in acknowledged.values() for _, reason in where)


def test_every_acknowledgment_is_needed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without its acknowledgments the app fails on exactly the acknowledged findings, each where acknowledged."""
    made: list[tuple[str, str]] = []
    monkeypatch.setattr(
        nag, "acknowledge", lambda scope, rule_id, reason: made.append((scope.node.path, rule_id))
    )
    config = workshop_config.load(PROJECT_ROOT / "workshop.yaml")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(config, tmp_path)
    found = violations(tmp_path / "validation-report.json")
    assert set(found) == {rule for _, rule in made}, found
    for scope_path, rule in made:
        assert any(p == scope_path or p.startswith(scope_path + "/") for p in found[rule]), (scope_path, rule)
    hub_made = {rule for path, rule in made if path.startswith("workshop-hub-hub/")}
    assert hub_made == HUB_ACKNOWLEDGMENTS


def test_an_unacknowledged_finding_fails_the_synth(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "NagProof")
    secretsmanager.Secret(stack, "NoRotation")
    nag.add_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert violations(tmp_path / "validation-report.json") == {
        "AwsSolutions-SMG4": ["NagProof/NoRotation/Resource"]
    }


def test_resource_id_spells_iam5_findings_like_cdk_nag(tmp_path: Path) -> None:
    def app_with_wildcard(outdir: Path, acknowledged: bool) -> App:
        app = App(outdir=str(outdir))
        stack = Stack(app, "Wildcard")
        bucket = s3.Bucket(stack, "Data", enforce_ssl=True)
        role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{bucket.bucket_arn}/*"])
        )
        nag.acknowledge(bucket, "AwsSolutions-S1", "test bucket")
        if acknowledged:
            nag.acknowledge(
                role, f"AwsSolutions-IAM5[Resource::{nag.resource_id(role, bucket.bucket_arn)}/*]", "test"
            )
        nag.add_checks(app)
        return app

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app_with_wildcard(tmp_path / "open", acknowledged=False).synth()
    (rule,) = violations(tmp_path / "open" / "validation-report.json")
    assert rule.startswith("AwsSolutions-IAM5[Resource::<Data") and rule.endswith(".Arn>/*]")
    app_with_wildcard(tmp_path / "acknowledged", acknowledged=True).synth()


def test_an_acknowledgment_needs_a_reason(tmp_path: Path) -> None:
    stack = Stack(App(outdir=str(tmp_path)), "NoReason")
    with pytest.raises(ValueError, match="needs a reason"):
        nag.acknowledge(stack, "AwsSolutions-SMG4", " ")


def test_cached_ubuntu_image_when_the_account_is_known(tmp_path: Path) -> None:
    """A deploy (account known) pins the image id from cdk.context.json instead of resolving it each time."""
    config = workshop_config.load(PROJECT_ROOT / "workshop.yaml")
    account, region = "123456789012", config.hub.region
    parameter = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
    context: dict[str, Any] = {
        f"ssm:account={account}:parameterName={parameter}:region={region}": "ami-0123456789abcdef0",
        f"availability-zones:account={account}:region={region}": [f"{region}a", f"{region}b", f"{region}c"],
    }
    synth = synthesize(config, tmp_path, account=account, context=context)
    _, instance = synth.only("AWS::EC2::Instance")
    assert instance["Properties"]["ImageId"] == "ami-0123456789abcdef0"
    assert not any("ami-id" in str(p) for p in synth.template_json.get("Parameters", {}).values())


@pytest.mark.real_clock(CFN_LINT_DATED)
def test_cfn_lint_reports_no_errors(default_synth: Synth, custom_synth: Synth) -> None:
    templates = [
        str(s.outdir / f"{s.stack.artifact_id}.template.json") for s in (default_synth, custom_synth)
    ]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert result.returncode & 2 == 0, result.stdout + result.stderr
    assert result.returncode & 1 == 0, result.stdout + result.stderr


@pytest.mark.skipif(not CDK_CLI.exists(), reason="the CDK CLI is not installed (npm install)")
def test_cdk_cli_synthesizes_offline(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--output", str(outdir)],
        cwd=PROJECT_ROOT,
        env=quiet_env(AWS_EC2_METADATA_DISABLED="true"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (outdir / "workshop-hub-hub.template.json").is_file()
    assert violations(outdir / "validation-report.json") == {}

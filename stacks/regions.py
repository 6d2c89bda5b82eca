"""Where the control plane can run: the worker is a Lambda durable function, which AWS has not launched in
every Region. A synth for a Region without them stops here, before anything is built, instead of failing
half-way through a deploy.

Sources, checked on 2026-11-28 with the docs search (AWS's Lambda guide has no Region table for durable
functions; the README says the same):
- us-east-2: the launch Region (re:Invent 2025, "General availability began in US East (Ohio)"; the
  Pulumi/Terraform provider docs: "may only be available in limited regions, including us-east-2").
- us-east-1, us-west-2, eu-west-1, eu-central-1, ap-southeast-1: deployed there by public examples from
  February 2026 on (serverless-patterns, a CloudFormation sample naming eu-central-1).

A Region AWS has added since can be confirmed for one synth with ``-c durable-functions-region=<region>``
(after checking the Lambda console there offers "Durable execution").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DURABLE_FUNCTION_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
)
CONFIRM_CONTEXT_KEY = "durable-functions-region"


class UnsupportedRegion(ValueError):
    """hub.region has no Lambda durable functions (as far as the sources above say)."""


def check_region(region: str, context: Mapping[str, Any] | None = None) -> None:
    """Refuse ``region`` unless durable functions run there or the synth's context confirms it."""
    if region in DURABLE_FUNCTION_REGIONS or (context or {}).get(CONFIRM_CONTEXT_KEY) == region:
        return
    raise UnsupportedRegion(
        f"hub.region: {region!r} has no Lambda durable functions, which run the worker; use one of "
        f"{', '.join(DURABLE_FUNCTION_REGIONS)} (or, if AWS has launched them in {region} since, confirm it "
        f"with: cdk synth -c {CONFIRM_CONTEXT_KEY}={region})"
    )

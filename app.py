"""CDK entry point: loads workshop.yaml (or $WORKSHOP_CONFIG) and builds the stacks.

A bad settings file is reported with each field's path and rule, and the process exits 1 before
anything is synthesized.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from workshop_hub import config as workshop_config

DEFAULT_CONFIG = Path(__file__).resolve().parent / "workshop.yaml"


def main() -> int:
    path = Path(os.environ.get("WORKSHOP_CONFIG") or DEFAULT_CONFIG)
    try:
        settings = workshop_config.resolve_auto(workshop_config.load(path))
    except workshop_config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    # Imported after the check: aws_cdk takes seconds to load, a typo should not.
    from stacks.app_builder import build_app

    # The CDK CLI sets CDK_DEFAULT_ACCOUNT when it has credentials; without it the stacks stay
    # account-agnostic and synthesize offline.
    build_app(settings, account=os.environ.get("CDK_DEFAULT_ACCOUNT") or None).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())

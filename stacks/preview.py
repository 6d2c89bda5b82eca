"""`make plan`: synthesize the stacks (cdk-nag runs; a finding fails here) and print what a deploy makes.

Prints, per stack, the resources by type, the outputs, and every acknowledged cdk-nag finding with its
reason -- the review an instructor or an engineer does before `make deploy`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from workshop_hub import config as workshop_config

ROOT = Path(__file__).resolve().parent.parent


def acknowledgments(metadata: dict[str, list[dict[str, object]]]) -> list[tuple[str, str, str]]:
    found = []
    for path, entries in sorted(metadata.items()):
        for entry in entries:
            data = entry.get("data")
            if entry.get("type") == "aws:cdk:acknowledged-rules" and isinstance(data, dict):
                for rule, reason in sorted(data.items()):
                    found.append((path, rule.removeprefix("Annotation::"), str(reason)))
    return found


def main() -> int:
    path = Path(os.environ.get("WORKSHOP_CONFIG") or ROOT / "workshop.yaml")
    try:
        settings = workshop_config.load(path)
    except workshop_config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from stacks.app_builder import build_app

    outdir = ROOT / "cdk.out"
    started = time.perf_counter()
    build_app(settings, outdir=str(outdir)).synth()
    elapsed = time.perf_counter() - started

    print(
        f"Synthesized {path.name} in {elapsed:.1f} s into {outdir.relative_to(ROOT)}/ (cdk-nag: no open findings)"
    )
    for template_path in sorted(outdir.glob("*.template.json")):
        stack = template_path.name.removesuffix(".template.json")
        template = json.loads(template_path.read_text())
        types = Counter(resource["Type"] for resource in template.get("Resources", {}).values())
        print(f"\n== stack {stack}: {sum(types.values())} resources")
        for cfn_type, count in sorted(types.items()):
            print(f"   {count:3d}  {cfn_type}")
        outputs = template.get("Outputs", {})
        if outputs:
            print("   outputs:")
            for name, output in outputs.items():
                if not name.startswith("Export"):
                    print(f"     {name}: {output.get('Description', '')}")
        metadata = json.loads((outdir / f"{stack}.metadata.json").read_text())
        acks = acknowledgments(metadata)
        print(f"   cdk-nag acknowledgments ({len(acks)}):")
        for construct, rule, reason in acks:
            print(f"     {rule} on {construct.removeprefix('/' + stack + '/')}: {reason}")
    print(
        "\nDeploy with `make deploy` (needs AWS credentials and a bootstrapped account: `npx cdk bootstrap`)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

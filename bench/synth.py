"""Synth time: in-process (build + synth, after imports) and through the CDK CLI, in seconds.

Run with `make bench` (or `.venv/bin/python bench/synth.py`). Offline: no AWS credentials are used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"


def in_process(outdir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    from workshop_hub import config as workshop_config

    from stacks.app_builder import build_app

    imported = time.perf_counter()
    build_app(workshop_config.load(PROJECT_ROOT / "workshop.yaml"), str(outdir)).synth()
    return imported - started, time.perf_counter() - imported


def cli(outdir: Path) -> float:
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    env.pop("CDK_DEFAULT_ACCOUNT", None)
    started = time.perf_counter()
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--output", str(outdir)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"cdk synth failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def main() -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    with tempfile.TemporaryDirectory() as work:
        import_s, synth_s = in_process(Path(work) / "in-process")
        print(f"import aws_cdk + stacks: {import_s:6.1f} s")
        print(f"in-process synth:        {synth_s:6.1f} s")
        if CDK_CLI.exists():
            print(f"cdk synth (CLI):         {cli(Path(work) / 'cli'):6.1f} s")
        else:
            print("cdk synth (CLI):         skipped (run npm install)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

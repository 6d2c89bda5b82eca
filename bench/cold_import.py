"""Cold-import time of every Lambda handler module against a bare ``import boto3``, in fresh
interpreters (best of N runs each), printed as a ratio. Run: python bench/cold_import.py [-n 5]"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "lambdas" / "handlers"


def cold_import(module: str, runs: int) -> float:
    """Seconds for ``import module`` in a new interpreter (best of ``runs``), bytecode already cached."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("lambdas", "agent"))}
    env.update(AWS_DEFAULT_REGION="eu-west-1", POWERTOOLS_SERVICE_NAME="bench")
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    best = float("inf")
    for _ in range(runs + 1):  # the first run also writes __pycache__
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"import {module} failed:\n{out.stderr}")
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    baseline = cold_import("boto3", args.runs)
    print(f"{'module':<24} {'seconds':>8} {'x boto3':>8}")
    print(f"{'boto3':<24} {baseline:8.3f} {1.0:8.2f}")
    for path in sorted(HANDLERS.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = f"handlers.{path.stem}"
        seconds = cold_import(module, args.runs)
        print(f"{module:<24} {seconds:8.3f} {seconds / baseline:8.2f}")
    print(f"(best of {args.runs} fresh interpreters each; {time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()

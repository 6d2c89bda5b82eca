"""Running other programs: argument lists only, output to stderr (stdout carries the one JSON line)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hubagent.errors import ActionFailed


def log(message: str) -> None:
    print(f"hubagent: {message}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = 5) -> str:
    """The last lines of a program's output, for an error message."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def run(
    argv: Sequence[str | Path],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell); on failure raise ActionFailed naming ``what`` failed."""
    args = [str(a) for a in argv]
    log("run: " + shlex.join(args))
    try:
        done = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ActionFailed(f"{what} failed: the program {args[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise ActionFailed(f"{what} did not finish within {int(timeout)} s") from None
    if done.stdout:
        sys.stderr.write(done.stdout)
    if done.stderr:
        sys.stderr.write(done.stderr)
    sys.stderr.flush()
    if check and done.returncode != 0:
        detail = tail(done.stderr) or tail(done.stdout) or "no output"
        raise ActionFailed(f"{what} failed (exit {done.returncode}): {detail}")
    return done

"""hubctl's start-up: ``hubctl --help`` and ``hubctl -o json status`` (against a local stand-in API in
bearer mode, as with the sandbox), each in fresh interpreters, best of N: the wall time and the CPU time
(user + system: steadier than the wall time on a shared machine) of the whole command, the import time
Python reports (``-X importtime``, the sum of every module's own time), the
number of modules imported, and the packages that take the most of it.
Run: python bench/hubctl_startup.py [-n 5] [--top 8]"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_HUBCTL = "import sys; from hubctl.cli import main; sys.argv[0] = 'hubctl'; main()"
STATUS = {"instance": {"id": "i-0bench", "state": "running", "type": "t3.large"}, "hub_url": "http://hub"}


class _StatusApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(STATUS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    import_s: float
    modules: int
    top: list[tuple[float, str]]  # (seconds, package): the import time of each top-level package


def parse_importtime(stderr: str) -> tuple[float, int, list[tuple[float, str]]]:
    """``-X importtime`` lines: ``import time: self [us] | cumulative | imported package``."""
    total_us, modules = 0, 0
    per_package: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|")
        total_us += int(own)
        modules += 1
        package = name.strip().split(".")[0]
        per_package[package] = per_package.get(package, 0) + int(own)
    top = sorted(((us / 1e6, package) for package, us in per_package.items()), reverse=True)
    return total_us / 1e6, modules, top


def run_once(args: list[str], env: dict[str, str]) -> Run:
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUN_HUBCTL, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"hubctl {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    import_s, modules, top = parse_importtime(done.stderr)
    return Run(wall, cpu, import_s, modules, top)


def best_of(args: list[str], env: dict[str, str], runs: int) -> Run:
    results = [run_once(args, env) for _ in range(runs + 1)]  # the first run also writes __pycache__
    best = min(results[1:], key=lambda run: run.wall_s)
    best.cpu_s = min(run.cpu_s for run in results[1:])
    best.import_s = min(run.import_s for run in results[1:])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=8, help="how many of the heaviest packages to list")
    options = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        token = Path(tmp) / "token"
        token.write_text("bench\n")
        env = {
            **os.environ,
            "HUBCTL_API_URL": f"http://127.0.0.1:{server.server_port}/prod",
            "HUBCTL_TOKEN_FILE": str(token),
            "COLUMNS": "100",
        }
        print(f"{'command':<26} {'wall s':>7} {'cpu s':>7} {'import s':>9} {'modules':>8}")
        for args in (["--help"], ["-o", "json", "status"]):
            run = best_of(args, env, options.runs)
            label = "hubctl " + " ".join(args)
            print(f"{label:<26} {run.wall_s:7.3f} {run.cpu_s:7.3f} {run.import_s:9.3f} {run.modules:8d}")
            for seconds, module in run.top[: options.top]:
                print(f"    {module:<22} {seconds:6.3f}")
    server.shutdown()
    print(
        f"(best of {options.runs} fresh interpreters each, every column its own best; packages: the wall-best run)"
    )


if __name__ == "__main__":
    main()

"""hubctl plan on the sandbox's example notebooks for 30 participants: its run time, each notebook's
measured peak, and one notebook's reported peak against the kernel's own high-water mark.

The independent observation runs the same notebook again in a kernel started with jupyter_client
directly and reads Linux's ``VmHWM`` (peak resident set, kept by the kernel, no sampling) from
/proc/PID/status before shutting it down. Run: python bench/plan.py [-n 3] [--notebook 02-words.ipynb]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "sandbox" / "notebooks"
MIB = 1024**2


def run_plan(participants: int) -> tuple[float, dict[str, object]]:
    command = [
        str(Path(sys.executable).parent / "hubctl"), "-o", "json", "plan", "--participants", str(participants),
        "--notebooks", str(EXAMPLES), "--prices", "table",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hubctl plan failed ({done.returncode}):\n{done.stderr}")
    report: dict[str, object] = json.loads(done.stdout)
    return seconds, report


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def observed_peak(notebook: Path) -> int:
    """Run every code cell of ``notebook`` in a fresh kernel (cwd: a copy of its folder); VmHWM at the end."""
    nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "nb"
        shutil.copytree(notebook.parent, work)
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(work), stderr=subprocess.DEVNULL)
        try:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    reply = kc.execute_interactive(cell.source, timeout=600, output_hook=lambda _msg: None)
                    if reply["content"]["status"] != "ok":
                        raise RuntimeError(f"{notebook.name}: a cell failed: {reply['content']}")
            pid = km.provisioner.pid  # type: ignore[union-attr]
            return vm_hwm(pid)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--notebook", default="02-words.ipynb")
    args = parser.parse_args()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

    times, peaks = [], []
    report: dict[str, object] = {}
    for _ in range(args.runs):
        seconds, report = run_plan(args.participants)
        times.append(seconds)
        notebooks = report["notebooks"]
        assert isinstance(notebooks, list)
        peaks.append({n["name"]: n["peak_mib"] for n in notebooks})
    print(
        f"hubctl plan, {len(peaks[0])} example notebooks, {args.participants} participants, {args.runs} runs"
    )
    print(
        f"  run time (whole CLI): median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s"
    )
    for name in peaks[0]:
        values = [p[name] for p in peaks]
        print(
            f"  {name:<20} peak {statistics.median(values):7.1f} MiB (runs: {', '.join(f'{v:.1f}' for v in values)})"
        )
    recommended = report.get("recommended")
    memory = report.get("memory")
    if isinstance(recommended, dict) and isinstance(memory, dict):
        print(
            f"  plan: {memory['needed_gib']} GiB, limit {memory['limit']}, recommended {recommended['name']} "
            f"${recommended['per_hour_usd']}/h"
        )

    reported = statistics.median(p[args.notebook] for p in peaks)
    observed = [observed_peak(EXAMPLES / args.notebook) / MIB for _ in range(args.runs)]
    hwm = statistics.median(observed)
    print(
        f"{args.notebook}: reported peak {reported:.1f} MiB (psutil, sampled every 20 ms, kernel + children)"
    )
    print(
        f"{args.notebook}: observed VmHWM {hwm:.1f} MiB (Linux's own peak RSS of the kernel; runs: "
        f"{', '.join(f'{v:.1f}' for v in observed)})"
    )
    print(f"ratio reported / observed: {reported / hwm:.3f}")


if __name__ == "__main__":
    main()

"""Run notebooks for real and measure them: each in its own kernel (nbclient), in its own copy of the
notebooks folder, with the kernel's resident memory (the kernel process and all its children) sampled
by psutil while its cells run.

A notebook runs past its failing cells, as a participant goes on after one: each failure is reported with
its cell and error, and the notebook counts as measured unless too little of it ran (Measured.not_measured).
A cell's leading imports run as a request of their own (hubagent.cells), so the CPU share is measured over
the cells' own work; a cell that outlasts its timeout is interrupted and the next one runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil
from hubagent.cells import find_notebooks, split_imports
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat.v4 import new_code_cell
from nbformat.warnings import MissingIDFieldWarning

from hubctl.errors import BadInput
from hubctl.plan.arithmetic import Failure, Measured

__all__ = ["find_notebooks", "folder_bytes", "run_all", "run_notebook"]

SAMPLE_SECONDS = 0.02
DEFAULT_CELL_TIMEOUT = 600


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its living descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += times.user + times.system
    return total


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant (a process gone meanwhile counts nothing)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


class PeakSampler:
    """Samples ``tree_rss(pid)`` on a thread every ``interval`` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def sample(self) -> int:
        value = tree_rss(self.pid)
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


WORKSHOP_KERNEL = "workshop-env"


@contextmanager
def python_kernels(python: Path) -> Iterator[KernelSpecManager]:
    """Kernel specs holding one kernel, ``WORKSHOP_KERNEL``, that runs ``python`` (an environment with
    the workshop's packages, e.g. the sandbox's user environment), checked to have ipykernel."""
    if not python.is_file():
        raise BadInput(f"--python: {python} is not a file", "give the python of the workshop's environment")
    probe = subprocess.run(
        [str(python), "-c", "import ipykernel"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        raise BadInput(
            f"--python: {python} cannot import ipykernel",
            f"install it into that environment: {python} -m pip install ipykernel",
        )
    with tempfile.TemporaryDirectory(prefix="hubctl-plan-kernels-") as tmp:
        spec = Path(tmp) / WORKSHOP_KERNEL
        spec.mkdir()
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": f"workshop ({python})",
                    "language": "python",
                }
            ),
            encoding="utf-8",
        )
        yield KernelSpecManager(kernel_dirs=[tmp])


def check_kernel(kernel_name: str) -> None:
    """Refuse, before anything runs, a kernel name Jupyter does not know."""
    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise BadInput(
            f"--kernel: no Jupyter kernel named '{kernel_name}'",
            "`jupyter kernelspec list` shows the kernels; install one with ipykernel in the workshop's environment",
        ) from None


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, git's own folder left out."""
    total = 0
    for path in folder.rglob("*"):
        if ".git" in path.relative_to(folder).parts:
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


@contextmanager
def _home_with(folder: Path, data: Mapping[str, Path]) -> Iterator[Path]:
    """A participant's home as the hub makes it: a copy of ``folder`` (as nbgitpuller puts it there) and
    each data repo linked as ``~/NAME``. Yields the copy; the home is its parent."""
    with tempfile.TemporaryDirectory(prefix="hubctl-plan-") as tmp:
        target = Path(tmp) / folder.name
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        for name, path in data.items():
            link = Path(tmp) / name
            if not link.exists():
                link.symlink_to(path.resolve(), target_is_directory=True)
        yield target


def _kernel_pid(client: NotebookClient) -> int:
    provisioner = getattr(client.km, "provisioner", None)
    pid = getattr(provisioner, "pid", None)
    if not isinstance(pid, int):
        raise RuntimeError("the kernel's process id is unknown (not a local kernel?)")
    return pid


def _error_text(err: CellExecutionError) -> str:
    ename = getattr(err, "ename", "") or "Error"
    evalue = getattr(err, "evalue", "") or str(err).strip().splitlines()[-1]
    return f"{ename}: {evalue}"


TIMED_OUT = "Timeout"


def _read(path: Path) -> Any:
    with warnings.catch_warnings():
        # Notebooks written before nbformat 4.5 have no cell ids; that is no reason to refuse them.
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


@dataclass
class _Tally:
    """What the cells did, summed as they run."""

    code_cells: int = 0
    import_cells: int = 0
    ran: int = 0
    failed: int = 0
    worked: int = 0
    code_seconds: float = 0.0
    code_cpu: float = 0.0
    import_seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)


def run_notebook(
    path: Path,
    root: Path,
    *,
    kernel_name: str = "python3",
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    kernel_specs: KernelSpecManager | None = None,
    data: Mapping[str, Path] | None = None,
) -> Measured:
    """Run ``path`` (inside ``root``) in a fresh kernel, in a throwaway copy of ``root`` inside a throwaway
    home (``$HOME``) where the ``data`` folders are linked by name, as on the hub; past failing cells."""
    name = str(path.relative_to(root))
    with _home_with(root, data or {}) as copy:
        before = folder_bytes(copy)
        notebook_path = copy / name
        try:
            nb = _read(notebook_path)
        except (OSError, ValueError) as err:
            return Measured(name=name, error=f"the notebook cannot be read ({err})")
        km = (
            AsyncKernelManager(kernel_name=WORKSHOP_KERNEL, kernel_spec_manager=kernel_specs)
            if kernel_specs is not None
            else None
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=cell_timeout,
            kernel_name=kernel_name,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMED_OUT, "evalue": f"the cell ran longer than {cell_timeout} s"},
            resources={"metadata": {"path": str(notebook_path.parent)}},
        )
        tally = _Tally()
        # The kernel's own start-up chatter (e.g. its TCP warning) is not the notebook's output.
        with client.setup_kernel(stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(copy.parent)}):
            pid = _kernel_pid(client)
            sampler = PeakSampler(pid)
            baseline = sampler.sample()
            with sampler:
                _run_cells(client, nb, pid, sampler, tally)
        nbformat.write(nb, notebook_path)  # type: ignore[no-untyped-call]
        written = max(0, folder_bytes(copy) - before)
    return Measured(
        name=name,
        code_cells=tally.code_cells,
        import_cells=tally.import_cells,
        ran=tally.ran,
        failed=tally.failed,
        worked=tally.worked,
        peak_bytes=sampler.peak,
        baseline_bytes=baseline,
        seconds=round(tally.code_seconds + tally.import_seconds, 2),
        import_seconds=round(tally.import_seconds, 2),
        # Above 1.0 when the kernel uses several cores (threads, BLAS, child processes).
        cpu_share=round(tally.code_cpu / tally.code_seconds, 3) if tally.code_seconds > 0 else 0.0,
        disk_bytes=written,
        failures=tuple(tally.failures),
    )


def _run_cells(client: NotebookClient, nb: Any, pid: int, sampler: PeakSampler, tally: _Tally) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        imports, rest = split_imports(cell.source)
        parts = [("import", imports), ("code", rest)] if imports and rest.strip() else []
        parts = parts or [("import" if imports else "code", cell.source)]
        tally.code_cells += 1
        tally.import_cells += 1 if imports and not rest.strip() else 0
        tally.ran += 1
        outputs: list[Any] = []
        error = None
        for kind, source in parts:
            piece = new_code_cell(source)  # type: ignore[no-untyped-call]
            cpu, started = tree_cpu_seconds(pid), time.perf_counter()
            try:
                client.execute_cell(piece, index)
            except CellExecutionError as err:
                error = _error_text(err)
            except DeadKernelError:
                error = "the kernel died (out of memory?)"
            finally:
                sampler.sample()
            seconds = time.perf_counter() - started
            outputs += piece.outputs
            if kind == "import":
                tally.import_seconds += seconds
            else:
                tally.code_seconds += seconds
                tally.code_cpu += max(0.0, tree_cpu_seconds(pid) - cpu)  # a dead kernel counts nothing
            if error:
                break
        cell.outputs = outputs
        if error is None:
            tally.worked += 0 if parts[-1][0] == "import" else 1
            continue
        tally.failed += 1
        tally.failures.append(Failure(index + 1, error, "timeout" if error.startswith(TIMED_OUT) else None))
        if error.startswith("the kernel died"):
            return  # nothing after it can run in this kernel


def run_all(
    root: Path,
    *,
    kernel_name: str = "python3",
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    progress: Callable[[str], None] | None = None,
    kernel_specs: KernelSpecManager | None = None,
    data: Mapping[str, Path] | None = None,
) -> list[Measured]:
    """Every notebook under ``root``, one after the other (each alone: its peak is its own)."""
    results: list[Measured] = []
    found = find_notebooks(root)
    for path in found:
        if progress:
            progress(f"running {path.relative_to(root)} ({len(results) + 1}/{len(found)})")
        results.append(
            run_notebook(
                path,
                root,
                kernel_name=kernel_name,
                cell_timeout=cell_timeout,
                kernel_specs=kernel_specs,
                data=data,
            )
        )
    return results

"""Run notebooks for real and measure them: each in its own kernel (nbclient), in its own copy of the
notebooks folder, with the kernel's resident memory (the kernel process and all its children) sampled
by psutil while its cells run.

A notebook that fails is reported with the cell and the error; its measurement is not used.
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
from pathlib import Path

import nbformat
import psutil
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat.warnings import MissingIDFieldWarning

from hubctl.errors import BadInput
from hubctl.plan.arithmetic import Measured

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


def find_notebooks(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder`` (hidden folders and checkpoints left out), sorted."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts):
            continue
        found.append(path)
    return found


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
    home (``$HOME``) where the ``data`` folders are linked by name, as on the hub."""
    name = str(path.relative_to(root))
    with _home_with(root, data or {}) as copy:
        before = folder_bytes(copy)
        notebook_path = copy / name
        with warnings.catch_warnings():
            # Notebooks written before nbformat 4.5 have no cell ids; that is no reason to refuse them.
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nb = nbformat.read(notebook_path, as_version=4)  # type: ignore[no-untyped-call]
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
            resources={"metadata": {"path": str(notebook_path.parent)}},
        )
        started = time.perf_counter()
        error: str | None = None
        failed_cell: int | None = None
        baseline = 0
        # The kernel's own start-up chatter (e.g. its TCP warning) is not the notebook's output.
        with client.setup_kernel(stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(copy.parent)}):
            pid = _kernel_pid(client)
            sampler = PeakSampler(pid)
            baseline = sampler.sample()
            cpu_start, cells_start = tree_cpu_seconds(pid), time.perf_counter()
            with sampler:
                for index, cell in enumerate(nb.cells):
                    try:
                        client.execute_cell(cell, index)
                    except CellExecutionError as err:
                        error, failed_cell = _error_text(err), index + 1
                        break
                    except CellTimeoutError:
                        error, failed_cell = f"cell ran longer than {cell_timeout} s", index + 1
                        break
                    except DeadKernelError:
                        error, failed_cell = "the kernel died (out of memory?)", index + 1
                        break
                    finally:
                        sampler.sample()
            cpu = max(0.0, tree_cpu_seconds(pid) - cpu_start)  # a dead kernel counts nothing
            cells_seconds = time.perf_counter() - cells_start
        seconds = time.perf_counter() - started
        nbformat.write(nb, notebook_path)  # type: ignore[no-untyped-call]
        written = max(0, folder_bytes(copy) - before)
    return Measured(
        name=name,
        ok=error is None,
        peak_bytes=sampler.peak,
        baseline_bytes=baseline,
        seconds=round(seconds, 2),
        # Above 1.0 when the kernel uses several cores (threads, BLAS, child processes).
        cpu_share=round(cpu / cells_seconds, 3) if cells_seconds > 0 else 0.0,
        disk_bytes=written,
        error=error,
        cell=failed_cell,
    )


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

"""The worker's durable executions in the sandbox, kept on disk so an operation outlives a crash.

The same local runner as the tests (aws-durable-execution-sdk-python-testing), with its filesystem
execution store (one JSON file an execution, replaced atomically at every checkpoint) in
ROOT/executions instead of memory. After a crash, the next control plane finds the executions that were
running there and launches each again: the handler replays, the checkpointed steps return their
recorded results without running again, a durable wait that was under way lasts only what was left
of it; as Lambda replays an execution whose invocation died. The runner has no public call for this
(its own web runner never relaunches after a restart): ``resume`` uses the executor's
``_launch_execution``, the call a new execution starts with, and the tests cover it
(tests/integration/test_sandbox_crash.py).

As on Lambda, one execution per operation id; a second start of the same id does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python_testing.stores.filesystem import FileSystemExecutionStore
from workshop_hub.adapters.local_executions import LIVE, LocalExecutions

log = logging.getLogger("sandbox")


class DurableExecutions(LocalExecutions):
    """LocalExecutions whose store is a folder: what the last run left there is found again."""

    def __init__(self, handler: Callable[..., Any], folder: Path, *, timeout_s: int = 6 * 3600) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Durable waits last for real here: the hub and moto are live, and a waiting operation sleeps.
        self.files = FileSystemExecutionStore(folder)
        super().__init__(handler, skip_time=False, timeout_s=timeout_s, store=self.files)
        self.found: dict[str, Any] = {}  # operation id -> execution, as the last run left it
        for execution in self.store.list_all():
            name = execution.start_input.execution_name
            self.arns[name] = execution.durable_execution_arn
            self.found[name] = execution

    def resume(self, operation_id: str) -> bool:
        """Launch again an execution the last run left running; False when there is none to resume."""
        with self._lock:
            execution = self.found.pop(operation_id, None)
            if execution is None or execution.current_status().value not in LIVE:
                return False
            self.runner._executor._launch_execution(execution, self.timeout_s)  # see the module's note
            return True

    def left_running(self) -> list[str]:
        """Operation ids of the last run's executions still running and not resumed yet."""
        return [name for name, ex in self.found.items() if ex.current_status().value in LIVE]

    def forget_ended(self) -> int:
        """Delete the files of the last run's ended executions (their operations have recorded how
        they ended, or recovery did); returns how many."""
        removed = 0
        for name, execution in list(self.found.items()):
            if execution.current_status().value in LIVE:
                continue
            path = self.files._get_file_path(execution.durable_execution_arn)
            path.unlink(missing_ok=True)
            self.found.pop(name)
            self.arns.pop(name, None)
            removed += 1
        return removed

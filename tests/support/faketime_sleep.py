"""time.sleep for Python processes under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1 (`make test-future`).

The monotonic clock stays real there, or every timed lock wait hangs (Python waits with sem_clockwait,
which libfaketime 0.9.10 does not intercept). But that release still shifts clock_nanosleep's absolute
monotonic deadline, so Python 3.11's time.sleep fails with EINVAL (libfaketime issue #426, fixed after
0.9.10). This sleeps with select's relative timeout instead. The venv's ``workshop-hub-faketime.pth``
(written by `make test-future`) runs this file at start-up when, and only when, both variables are set.
"""

from __future__ import annotations

import select
import time
from typing import SupportsIndex


def sleep(seconds: float | SupportsIndex) -> None:
    length = float(seconds)
    if length < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], length)  # interrupted by a signal: retried with the time left (PEP 475)


time.sleep = sleep

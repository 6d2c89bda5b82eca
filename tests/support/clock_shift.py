"""The date moved ahead for `make test-future`: every Python process of the venv runs on a wall clock
``WORKSHOP_HUB_FUTURE`` ahead of the real one (``+5y``, ``+30y``, ``+400d``, ``+36h``).

`make test-future` writes ``workshop-hub-future.pth`` into the venv; Python runs it at start-up in every
process (pytest, moto, the sandbox, its JupyterHub, the users' servers and kernels, hubagent in the sandbox),
and when, and only when, the variable is set, it calls this file's ``start``. time-machine then moves ``time.time``,
``time.time_ns``, ``time.localtime``/``gmtime``/``strftime``, ``datetime.now``/``utcnow``/``today`` and
``time.clock_gettime(CLOCK_REALTIME)`` ahead, and lets the clock tick. The offset is a number of seconds
that depends on the text only, so every process agrees on the moved date.

What stays on the real clock: the monotonic clocks (timeouts and waits keep working), file times, and
every program that is not Python (git, node's proxy and the CDK, chromium, OpenSSL's certificate checks).
None of them compares a date the project's code gave it with the clock.

Why not libfaketime: 0.9.10 calls ``getenv()`` in every timed condition wait, the GIL's included, while
another thread's ``os.environ[...] = ...`` may reallocate the environment (a segfault in CI); and it shifts
``clock_nanosleep``'s monotonic deadlines, which breaks ``time.sleep`` (its issue #426).
"""

from __future__ import annotations

import datetime as dt
import re
import time

VARIABLE = "WORKSHOP_HUB_FUTURE"
UNITS = {"y": 365.25 * 86400, "d": 86400.0, "h": 3600.0}


def offset_seconds(text: str) -> float:
    """``+5y`` -> seconds ahead. Years are 365.25 days, so the offset never depends on today's date."""
    found = re.fullmatch(r"\+(\d+)([ydh])", text.strip())
    if not found:
        raise ValueError(f"{VARIABLE}={text!r}: expected +N followed by y, d or h (for example +5y)")
    return int(found.group(1)) * UNITS[found.group(2)]


def start(text: str) -> None:
    """Move this process's wall clock ``text`` ahead of the real one, once (site-packages' .pth files may be read
    twice at start-up, as on this project's CI machine). A timedelta leaves the time zone alone (a datetime would
    set TZ to its own)."""
    import time_machine
    from time_machine import escape_hatch

    if not escape_hatch.is_travelling():
        time_machine.travel(dt.timedelta(seconds=offset_seconds(text)), tick=True).start()
        # A ticking travel starts its clock at the first reading, not at start(): read it now, or a process that
        # imports for seconds before it first asks the time runs that many seconds behind the others.
        time.time()

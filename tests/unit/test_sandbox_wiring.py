"""The sandbox's one execution environment per function: its API threads take turns at the API handler
(Powertools' resolver and Logger keep the event they handle in module state)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.wiring import one_event_at_a_time


def test_one_event_at_a_time_never_overlaps() -> None:
    inside = 0
    most = 0
    lock = threading.Lock()

    def slow(event: dict[str, Any], context: Any) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)
        with lock:
            inside -= 1
        return int(event["n"])

    handler = one_event_at_a_time(slow)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: handler({"n": n}, None), range(40)))
    assert results == list(range(40)) and most == 1

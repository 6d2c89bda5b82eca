"""The sandbox's execution environments: as on Lambda, each takes one event at a time with module state of its
own (Powertools' resolver and Logger keep the event they handle there), and several serve at once."""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FunctionType
from typing import Any, cast

import pytest

from sandbox.wiring import Environments


@pytest.fixture
def counting_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A handler module that counts the events inside it at once, in its own module state."""
    (tmp_path / "counting_handler.py").write_text(
        "import threading, time\n"
        "inside = 0\n"
        "most = 0\n"
        "lock = threading.Lock()\n"
        "def handler(event, context):\n"
        "    global inside, most\n"
        "    if 'together' in event:\n"
        "        event['together'].wait(timeout=30)  # the others are in theirs at the same time\n"
        "    with lock:\n"
        "        inside += 1\n"
        "        most = max(most, inside)\n"
        "    time.sleep(0.01)\n"
        "    with lock:\n"
        "        inside -= 1\n"
        "    return {'n': event['n'], 'most': most, 'environment': id(lock)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "counting_handler"
    sys.modules.pop("counting_handler", None)


def test_each_environment_takes_one_event_at_a_time_and_several_serve_at_once(counting_module: str) -> None:
    environments = Environments(counting_module, 4)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers: list[dict[str, Any]] = list(pool.map(lambda n: environments({"n": n}, None), range(64)))
        # four events meet inside four environments at once (one environment at a time would break the barrier)
        together = threading.Barrier(4)
        met = list(pool.map(lambda n: environments({"n": n, "together": together}, None), range(4)))
    assert [a["n"] for a in answers] == list(range(64))  # each event its own answer
    assert all(a["most"] == 1 for a in answers + met)  # never two events in one environment's module
    assert len({a["environment"] for a in answers}) == 4  # four modules, each with state of its own
    assert not together.broken and sorted(a["n"] for a in met) == [0, 1, 2, 3]


def test_the_api_handler_gets_environments_of_its_own() -> None:
    from handlers import api

    environments = Environments(api.__name__, 2)
    handlers = []
    while not environments.free.empty():
        handlers.append(environments.free.get())
    assert len(handlers) == 2 and api.handler not in handlers
    # each handler's own module, under Logger's decorator: its resolver
    resolvers = [cast(FunctionType, inspect.unwrap(handler)).__globals__["app"] for handler in handlers]
    assert resolvers[0] is not resolvers[1] and api.app not in resolvers  # a resolver each

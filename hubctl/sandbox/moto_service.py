"""moto's server for the sandbox, one request at a time.

moto's backends are plain Python objects without locks, and its own server answers requests on
threads: two concurrent conditional writes to DynamoDB can interleave inside moto, which real
DynamoDB never allows (each request is atomic). A room registering at once sends dozens of
concurrent requests, so the sandbox serves moto's application behind one lock: every request is
atomic, as on AWS. Run: python -m hubctl.sandbox.moto_service PORT
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class OneAtATime:
    """A WSGI application that lets one request at a time into ``app`` (whole responses, buffered)."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def main(argv: list[str]) -> None:
    import os

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", argv[0])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", int(argv[0]), OneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1:])

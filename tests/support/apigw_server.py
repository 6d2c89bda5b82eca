"""A local HTTP server that turns each request into an API Gateway REST proxy event for a handler.

``with serve(api.handler, token="t") as url:`` gives a base URL such as http://127.0.0.1:PORT/prod;
requests under it reach the handler as API Gateway would send them (stage stripped from the path,
headers, body, a fresh request id). With ``token``, a request without ``Authorization: Bearer
<token>`` gets 401 before the handler runs (the sandbox's stand-in for IAM auth); with
``require_sigv4``, one without a SigV4 ``Authorization`` header gets 403, as API Gateway answers.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.apigw import ApiGatewayFront, LambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _make_request_handler(
    handler: Handler, token: str | None, require_sigv4: bool, stage: str, log: list[dict[str, Any]]
) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(ApiGatewayFront):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            body = self.read_body()
            auth = self.headers.get("Authorization", "")
            if token is not None and not hmac.compare_digest(auth.encode(), f"Bearer {token}".encode()):
                self.answer_json(401, {"message": "Unauthorized"})
                return
            if require_sigv4 and not auth.startswith("AWS4-HMAC-SHA256 "):
                self.answer_json(403, {"message": "Missing Authentication Token"})
                return
            log.append(self.forward(handler, LambdaContext("api", remaining_ms=30_000), body, stage=stage))

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return RequestHandler


class Served:
    def __init__(self, url: str, events: list[dict[str, Any]]) -> None:
        self.url = url
        self.events = events

    def __str__(self) -> str:
        return self.url


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of parallel clients, as API Gateway takes them


@contextmanager
def serve(
    handler: Handler,
    *,
    token: str | None = None,
    require_sigv4: bool = False,
    stage: str = "prod",
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[Served]:
    """Serve ``handler`` on a thread; yields the base URL (with the stage) and the events it got."""
    events: list[dict[str, Any]] = []
    server = _Server((host, port), _make_request_handler(handler, token, require_sigv4, stage, events))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        base = f"http://{host}:{server.server_address[1]}"
        yield Served(f"{base}/{stage}" if stage else base, events)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

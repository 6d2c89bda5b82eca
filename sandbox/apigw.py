"""API Gateway and Lambda as the handlers see them: REST (v1) proxy events in, proxy results out.

The sandbox's API server and the tests build their events here, so the handler is driven the same way
everywhere: the fields follow AWS's "Lambda proxy integration" input format, filled in as far as a
handler can read them.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ACCOUNT = "123456789012"


class LambdaContext:
    """What a handler reads from its context object."""

    def __init__(self, name: str, remaining_ms: int = 900_000) -> None:
        region = os.environ.get("AWS_REGION", "eu-west-1")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def proxy_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    host: str,
    source_ip: str,
    stage: str = "",
    caller_arn: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for ``method raw_path`` (``raw_path`` may start with ``/stage``)."""
    parts = urlsplit(raw_path)
    path = parts.path
    if stage and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        path = path[len(stage) + 1 :] or "/"
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) or None
    try:
        text: str | None = body.decode("utf-8") if body else None
        is_b64 = False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body or b"").decode(), True
    identity: dict[str, Any] = {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")}
    if caller_arn:
        identity.update(userArn=caller_arn, caller=caller_arn)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": host.split(".", 1)[0],
            "domainName": host,
            "httpMethod": method.upper(),
            "identity": identity,
            "path": f"/{stage}{path}" if stage else path,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourcePath": path,
            "stage": stage or "$default",
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def http_reply(result: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """A proxy result as (status, headers, body text), as API Gateway answers the client."""
    headers = dict(result.get("headers") or {})
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key, ", ".join(values))
    for hop in ("Content-Length", "Connection", "Transfer-Encoding"):
        headers.pop(hop, None)
    raw = result.get("body") or ""
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    return int(result["statusCode"]), headers, raw


# The largest body the sandbox's API reads. API Gateway (REST) takes payloads up to 10 MB; the API's
# biggest real body (200 user names, 50 password hashes) is a few KB.
MAX_BODY_BYTES = 1024 * 1024


class BodyRefused(Exception):
    """A request whose body is not read: (HTTP status, why)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiGatewayFront(BaseHTTPRequestHandler):
    """An HTTP request handler that plays API Gateway in front of a Lambda proxy handler: subclasses
    decide who may call (the sandbox's bearer token, the tests' SigV4 check) and call ``forward``."""

    protocol_version = "HTTP/1.1"
    # A client that stops sending in the middle of a request gives up its thread after this long.
    timeout = 30

    def body_length(self, limit: int = MAX_BODY_BYTES) -> int:
        """The body's length from Content-Length, checked before a byte of it is read. No
        Content-Length (and no Transfer-Encoding) means no body (RFC 9112, 6.3)."""
        if self.headers.get("Transfer-Encoding"):
            raise BodyRefused(411, "Content-Length is required (a chunked body is not taken)")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        text = values[0].strip()
        if len(set(values)) > 1 or not text.isdigit():
            raise BodyRefused(
                400, f"Content-Length: {values[0][:40]!r} must be one whole number of bytes, 0 or more"
            )
        length = int(text)
        if length > limit:
            raise BodyRefused(413, f"the body is {length} bytes; the API takes at most {limit}")
        return length

    def read_body(self) -> bytes:
        """The body (its length checked first); raises BodyRefused."""
        length = self.body_length()
        return self.rfile.read(length) if length else b""

    def refuse(self, status: int, body: Any) -> None:
        """Answer without reading the body, and close the connection: its unread bytes would
        otherwise be taken for the next request."""
        self.close_connection = True
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer_json(self, status: int, body: Any) -> None:
        self.answer(status, json.dumps(body), {"Content-Type": "application/json"})

    def forward(
        self,
        handler: Callable[[dict[str, Any], Any], Any],
        context: LambdaContext,
        body: bytes,
        *,
        stage: str = "",
    ) -> dict[str, Any]:
        """Hand the request to ``handler`` as API Gateway would, answer with its result; returns the event."""
        event = proxy_event(
            self.command,
            self.path,
            dict(self.headers.items()),
            body,
            stage=stage,
            host=self.headers.get("Host", "127.0.0.1"),
            source_ip=self.client_address[0],
        )
        status, headers, text = http_reply(handler(event, context))
        self.answer(status, text, headers)
        return event

"""API Gateway REST (v1) proxy events, as API Gateway hands them to a Lambda function.

``event("POST", "/users", {"usernames": ["ada"]})`` builds one; ``call(handler, ...)`` builds it,
invokes the handler and returns a parsed ``Reply``. The fields follow the AWS "proxy integration"
input format; only what a handler can read is filled in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.apigw import LambdaContext, proxy_event

STAGE = "prod"
HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
_NO_BODY = object()


def event(
    method: str,
    path: str,
    body: Any = _NO_BODY,
    *,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    stage: str = STAGE,
    host: str = HOST,
    source_ip: str = "198.51.100.7",
    caller_arn: str | None = "arn:aws:iam::123456789012:user/instructor",
) -> dict[str, Any]:
    """A proxy event; ``body`` is JSON-encoded unless ``raw_body`` gives the bytes as text."""
    text: str | None
    if raw_body is not None:
        text = raw_body
    elif body is _NO_BODY:
        text = None
    else:
        text = json.dumps(body)
    all_headers = {"Host": host, "User-Agent": "tests", "Accept": "application/json"}
    if text is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    return proxy_event(
        method,
        path,
        all_headers,
        text.encode() if text is not None else None,
        host=host,
        source_ip=source_ip,
        stage=stage,
        caller_arn=caller_arn,
    )


def FakeContext() -> LambdaContext:
    return LambdaContext("workshop-hub-api", remaining_ms=30_000)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any = field(default=None)

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


def parse(result: dict[str, Any]) -> Reply:
    headers = {k: v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key, values[0])
    raw = result.get("body")
    body = json.loads(raw) if raw else None
    return Reply(status=int(result["statusCode"]), headers=headers, body=body)


def call(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    method: str,
    path: str,
    body: Any = _NO_BODY,
    **kwargs: Any,
) -> Reply:
    return parse(handler(event(method, path, body, **kwargs), FakeContext()))

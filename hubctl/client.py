"""The API client: JSON over urllib, signed with SigV4 (AWS) or a bearer token (sandbox).

Every mutating request carries an ``Idempotency-Key``: a request retried after a dropped connection
or a 502/503/504 gets the operation the first attempt created, never a second one.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import quote

from hubctl import aws
from hubctl.discovery import Auth
from hubctl.errors import AuthError, BadInput, Conflict, HubctlError, NotFound, Unreachable

RETRY_STATUS = (429, 502, 503, 504)
# A room registering at once can meet API Gateway's throttle (429): back off, doubling, with jitter.
ATTEMPTS = 6
BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
USER_AGENT = "hubctl/0.1"


def segment(value: str) -> str:
    """One path segment, percent-encoded."""
    return quote(value, safe="")


class ApiClient:
    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        timeout_s: float = 30.0,
        attempts: int | None = None,
        backoff_s: float | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise BadInput(
                f"API URL {base_url!r} is not http(s)", "check HUBCTL_API_URL or the stack's ApiUrl output"
            )
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout_s = timeout_s
        self.attempts = ATTEMPTS if attempts is None else attempts
        self.backoff_s = BACKOFF_S if backoff_s is None else backoff_s

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body, idempotency_key=str(uuid.uuid4()))

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path, idempotency_key=str(uuid.uuid4()))

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Any:
        url = self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        for attempt in range(1, self.attempts + 1):
            signed = self._signed(method, url, data, headers)
            request = urllib.request.Request(url, data=data, method=method, headers=signed)  # noqa: S310
            try:
                # The scheme is checked in __init__: https, or the sandbox's http.
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                    return _decode(response.read())
            except urllib.error.HTTPError as err:
                payload = _decode(err.read(), lenient=True)
                if err.code in RETRY_STATUS and attempt < self.attempts:
                    time.sleep(self._delay(attempt, err.headers.get("Retry-After")))
                    continue
                raise _http_error(method, path, err.code, payload, self.auth, attempt) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt < self.attempts:
                    time.sleep(self._delay(attempt))
                    continue
                reason = getattr(err, "reason", err)
                raise Unreachable(
                    f"cannot reach the API at {self.base_url}: {reason}",
                    "check your network; if the stack was deleted, deploy it again (make deploy)",
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), MAX_BACKOFF_S)
        ceiling: float = min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrecy)

    def _signed(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        if self.auth.kind == "bearer":
            return {**headers, "Authorization": f"Bearer {self.auth.token}"}
        return aws.signed_headers(method, url, data, headers, self.auth.region)


def _decode(raw: bytes, *, lenient: bool = False) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        if lenient:
            return {"error": raw.decode("utf-8", "replace")[:500]}
        raise Unreachable(
            "the API answered with something that is not JSON", "is HUBCTL_API_URL right?"
        ) from None


def _http_error(
    method: str, path: str, status: int, payload: Any, auth: Auth, attempts: int = 1
) -> HubctlError:
    body = payload if isinstance(payload, dict) else {}
    # API Gateway's own refusals say "message"; ours say "error".
    message = str(body.get("error") or body.get("message") or f"HTTP {status}")
    details = [str(line) for line in body.get("errors") or []]
    if status in (400, 422):
        return BadInput(message, "fix the value named above and try again", details=details)
    if status in (401, 403):
        hint = (
            "check the sandbox's token file (HUBCTL_TOKEN_FILE)"
            if auth.kind == "bearer"
            else "check your AWS credentials (aws sts get-caller-identity) and that your identity may call "
            "execute-api:Invoke on this API, in the stack's region"
        )
        return AuthError(f"{method} {path} was refused ({status}): {message}", hint)
    if status == 404:
        return NotFound(message, "check the name or id; `hubctl status` shows the last operations")
    if status == 409:
        running = body.get("operation_id")
        hint = (
            f"wait for it (hubctl ops show {running} --wait) and try again" if running else "try again later"
        )
        return Conflict(message, hint, operation_id=running)
    tries = f", {attempts} tries" if attempts > 1 else ""
    if status == 503:
        # The API answered: it could not take the request now (e.g. Lambda busy during a deploy).
        return Unreachable(
            f"the API could not take the request now (503{tries}): {message}",
            "nothing was started; try again in a minute",
            operation_id=body.get("operation_id"),
        )
    return Unreachable(
        f"the API failed ({status}{tries}): {message}",
        "try again; if it persists, read the api function's logs",
    )

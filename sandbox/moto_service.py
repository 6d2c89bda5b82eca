"""moto's server for the sandbox: one request at a time, signed requests only, its state kept on disk.

* One at a time: moto's backends are plain Python objects without locks, and its own server answers
  requests on threads: two concurrent conditional writes to DynamoDB can interleave inside moto, which
  real DynamoDB never allows (each request is atomic). A room registering at once sends dozens of
  concurrent requests, so the sandbox serves moto's application behind one lock: every request is
  atomic, as on AWS.
* Signed only: moto itself accepts anyone who can connect, and every unix user of the machine can
  connect to 127.0.0.1 (participants included). Here a request must carry an AWS Signature Version 4
  made with the sandbox's secret key (``aws/credentials``, 0600 in a 0700 folder), as AWS requires of
  every caller; anything else, moto's own /moto-api/ (reset, recorder, dashboard) included, is 403.
* Kept: aws_store.AwsStore logs each change before it runs and snapshots the backends.

Run: python -m sandbox.moto_service PORT STATE_DIR (the credentials file is STATE_DIR/credentials).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from sandbox.aws_store import AwsStore, changes_state
from sandbox.layout import read_credentials

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

log = logging.getLogger("sandbox.moto")

ACCOUNT = "123456789012"  # moto's default account, which any access key id that is not a number gets


def _auth_fields(header: str) -> dict[str, str] | None:
    """The parts of ``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
    SignedHeaders=a;b, Signature=HEX``, or None when it is not one."""
    scheme, _, rest = header.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return None
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return None
    fields.update(key_id=scope[0], date=scope[1], region=scope[2], service=scope[3])
    return fields


def _header(environ: Environ, name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key)
    value = environ.get(f"HTTP_{key}")
    return None if value is None else str(value)


def signature_matches(environ: Environ, body: bytes, fields: dict[str, str], secret: str) -> bool:
    """Whether the request's SigV4 signature is the one ``secret`` makes for it (botocore's own
    canonical request and string to sign, computed from the request as it arrived)."""
    headers: dict[str, str] = {}
    for name in fields["SignedHeaders"].split(";"):
        value = _header(environ, name)
        if value is None:
            return False
        headers[name] = value
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        return False
    raw_uri = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/"))
    request = AWSRequest(
        method=str(environ["REQUEST_METHOD"]),
        url=f"http://{headers.get('host', 'localhost')}{raw_uri}",
        data=body,
        headers=headers,
    )
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(fields["key_id"], secret), fields["service"], fields["region"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return hmac.compare_digest(expected.encode(), fields["Signature"].encode())


class SandboxAws:
    """A WSGI application in front of moto's: checks the signature, lets one request at a time in
    (whole responses, buffered), logs what changes state before it runs."""

    def __init__(self, app: WsgiApp, credentials: dict[str, str], store: AwsStore | None) -> None:
        self.app = app
        self.key_id = credentials["access_key_id"]
        self.secret = credentials["secret_access_key"]
        self.store = store
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        fields = _auth_fields(str(environ.get("HTTP_AUTHORIZATION", "")))
        body = _read_body(environ)
        if (
            fields is None
            or fields["key_id"] != self.key_id
            or not signature_matches(environ, body, fields, self.secret)
        ):
            return _refuse(start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        method = str(environ["REQUEST_METHOD"])
        with self.lock:
            if self.store is not None and changes_state(method, fields["service"], environ, body):
                self.store.before_change(self.app, fields["service"], fields["region"], environ, body)
            return list(self.app(environ, start_response))

    def snapshot_if_due(self) -> None:
        if self.store is None:
            return
        with self.lock:
            if self.store.snapshot_due():
                seconds = self.store.snapshot()
                log.info("snapshot of the AWS state at %d in %.3f s", self.store.seq, seconds)

    def stop(self) -> None:
        """A last snapshot (``down``), so the next start replays nothing."""
        if self.store is None:
            return
        if self.lock.acquire(timeout=10):
            try:
                self.store.snapshot()
            finally:
                self.lock.release()


def _read_body(environ: Environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    return bytes(stream.read(length)) if length > 0 else b""


def _refuse(start_response: StartResponse) -> list[bytes]:
    body = json.dumps(
        {
            "__type": "UnrecognizedClientException",
            "message": "the sandbox's AWS answers requests signed with its own key only",
        }
    ).encode()
    start_response(
        "403 Forbidden",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    port, state_dir = int(argv[0]), Path(argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    store = AwsStore(state_dir, ACCOUNT)
    restored = store.restore(app)  # before the port opens: who connects sees the kept state
    log.info("AWS state: %s", restored)
    front = SandboxAws(app, read_credentials(state_dir), store)

    def snapshots() -> None:
        while True:
            time.sleep(1.0)
            try:
                front.snapshot_if_due()
            except Exception:  # keep serving; the log goes on and the next try may work
                log.exception("snapshot")

    threading.Thread(target=snapshots, daemon=True, name="snapshots").start()

    def on_term(signum: int, frame: Any) -> None:
        front.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    run_simple("127.0.0.1", port, front, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1:])

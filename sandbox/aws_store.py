"""Where the sandbox's AWS (moto) keeps its state between runs: a snapshot and a write-ahead log.

moto's backends are plain Python objects in moto's process, and moto_service serves one request at a
time, so the state after any request is well defined:

* every request that may change a kept service (EC2, DynamoDB, Scheduler) is appended to ``moto.wal``
  BEFORE moto handles it, with its sequence number; moto's random source (ids of snapshots, volumes,
  instances) is seeded from a per-sandbox salt and that number just before it runs. Replaying the log
  in order on the snapshot therefore gives the same ids, the same conditional-write outcomes, the same
  state: unlike moto's Recorder, whose replay of RunInstances makes new random ids.
* ``moto.snapshot`` is a pickle of those services' backends (with the sequence number it covers),
  written atomically when the log grows long, when moto is idle a while, and when moto is stopped
  (SIGTERM); the log then starts again after it.

A SIGKILL loses nothing moto answered: each entry is written (not fsynced: a crash of the process, not
of the machine, is what this survives) before the request runs. A last line cut short by the crash
was never handled, and is dropped. SSM (hubagent's documents) is not kept: ``up`` creates the
documents from the code each time, as a deploy would. CloudWatch (``status --cost``) is not kept.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.backends import get_backend
from moto.moto_api._internal import mock_random

log = logging.getLogger("sandbox.aws")

KEPT_SERVICES = ("ec2", "dynamodb", "scheduler")
SNAPSHOT = "moto.snapshot"
WAL = "moto.wal"
# A snapshot when the log has this many entries, or when moto has been idle this long after a change.
SNAPSHOT_EVERY = 500
SNAPSHOT_IDLE_S = 5.0
# Requests that only read: every other request to a kept service is logged (a read logged by mistake
# costs a line; a write missed would be lost).
_READ_PREFIXES = ("Describe", "Get", "List", "Scan", "Query", "BatchGet")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def changes_state(method: str, service: str, environ: Environ, body: bytes) -> bool:
    """Whether a request to ``service`` may change what the sandbox keeps."""
    if service not in KEPT_SERVICES:
        return False
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:  # JSON protocol (DynamoDB): Service.Operation
        return not target.rsplit(".", 1)[-1].startswith(_READ_PREFIXES)
    if service == "ec2":  # query protocol: Action=... in the form body (or, for a GET, the query)
        query = f"{environ.get('QUERY_STRING', '')}&{body.decode('utf-8', 'replace')}"
        action = parse_qs(query).get("Action", [""])[0]
        return not action.startswith(_READ_PREFIXES)
    return method not in ("GET", "HEAD", "OPTIONS")  # REST (Scheduler): the method says


def _cgi_vars(environ: Environ) -> dict[str, str]:
    """The request as WSGI describes it (method, path, query, headers), without the stream objects."""
    return {k: v for k, v in environ.items() if k.isupper() and isinstance(v, str)}


def _environ(cgi: dict[str, str], body: bytes) -> Environ:
    return {
        **cgi,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }


def _reseed(salt: str, seq: int) -> None:
    mock_random.seed(f"{salt}:{seq}")


def _prepare(app: WsgiApp, environ: Environ, body: bytes, service: str, account: str, region: str) -> None:
    """Make what moto makes on first use before the seeded request runs, in the live run and in a
    replay alike: the service's backend (its default VPC has random ids) and moto's application for
    the service (building it draws random numbers too). Otherwise the first request after a start
    would draw differently in the replay than it did live, and every id after it would shift."""
    get_backend(service)[account][region]  # type: ignore[call-overload]
    get_application = getattr(app, "get_application", None)
    if get_application is not None:  # moto's DomainDispatcherApplication: builds and caches it
        get_application({**environ, "wsgi.input": io.BytesIO(body)})


class AwsStore:
    """The snapshot and the log of one sandbox (``folder`` is private: 0700)."""

    def __init__(self, folder: Path, account: str) -> None:
        self.folder = folder
        self.account = account
        self.seq = 0
        self.salt = os.urandom(8).hex()
        self.logged_since_snapshot = 0
        self.last_change = 0.0
        self._wal: io.BufferedWriter | None = None

    @property
    def snapshot_file(self) -> Path:
        return self.folder / SNAPSHOT

    @property
    def wal_file(self) -> Path:
        return self.folder / WAL

    # --- at start ------------------------------------------------------------------------------

    def restore(self, app: WsgiApp) -> dict[str, Any]:
        """Load the snapshot, replay the log on it (then snapshot again); returns what it did."""
        started = time.monotonic()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        loaded = self._load_snapshot()
        replayed = 0
        for entry in self._log_entries():
            if entry["seq"] <= self.seq:
                continue  # already in the snapshot (a crash between the snapshot and the log's reset)
            try:
                self._apply(app, entry)
            except Exception:  # moto answers its own errors; anything else must not stop the start
                log.exception("replaying change %s", entry.get("seq"))
            replayed += 1
        if replayed or not loaded:
            # the next start replays none of it again; a first snapshot keeps the salt the log's ids need
            self.snapshot()
        return {
            "snapshot": loaded,
            "replayed": replayed,
            "seconds": round(time.monotonic() - started, 3),
        }

    def _load_snapshot(self) -> bool:
        if not self.snapshot_file.is_file():
            return False
        with self.snapshot_file.open("rb") as f:
            data = pickle.load(f)  # noqa: S301 (our own file, in a folder only root reads)
        self.seq, self.salt = int(data["seq"]), str(data["salt"])
        for service, accounts in data["backends"].items():
            backends = get_backend(service)
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    backends[account][region] = backend
        return True

    def _log_entries(self) -> Iterable[dict[str, Any]]:
        if not self.wal_file.is_file():
            return
        with self.wal_file.open("rb") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    # The last line, cut short by a crash while it was written: that request never ran.
                    log.warning("%s: dropped an incomplete last entry", self.wal_file)
                    return
                yield entry

    def _apply(self, app: WsgiApp, entry: dict[str, Any]) -> None:
        self.seq = int(entry["seq"])
        body = base64.b64decode(entry["body"])
        environ = _environ(entry["environ"], body)
        _prepare(app, environ, body, entry["service"], self.account, entry["region"])
        _reseed(self.salt, self.seq)
        environ["wsgi.input"] = io.BytesIO(body)
        list(app(environ, lambda *args, **kwargs: None))

    # --- while serving (under moto_service's one-request lock) ---------------------------------

    def before_change(self, app: WsgiApp, service: str, region: str, environ: Environ, body: bytes) -> None:
        """Log a request that may change state, then seed moto's randomness for it."""
        self.seq += 1
        entry = {
            "seq": self.seq,
            "service": service,
            "region": region,
            "environ": _cgi_vars(environ),
            "body": base64.b64encode(body).decode("ascii"),
        }
        if self._wal is None:
            self._wal = self.wal_file.open("ab")
        self._wal.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._wal.flush()  # in the kernel's hands: a SIGKILL of this process cannot lose it
        self.logged_since_snapshot += 1
        self.last_change = time.monotonic()
        _prepare(app, environ, body, service, self.account, region)
        _reseed(self.salt, self.seq)

    def snapshot_due(self) -> bool:
        if self.logged_since_snapshot == 0:
            return False
        if self.logged_since_snapshot >= SNAPSHOT_EVERY:
            return True
        return time.monotonic() - self.last_change >= SNAPSHOT_IDLE_S

    def snapshot(self) -> float:
        """Write the kept services' backends atomically, then start the log again; returns seconds."""
        started = time.monotonic()
        backends: dict[str, dict[str, dict[str, Any]]] = {}
        for service in KEPT_SERVICES:
            found = get_backend(service)  # type: ignore[call-overload]
            backends[service] = {
                account: {region: found[account][region] for region in dict.keys(found[account])}
                for account in dict.keys(found)
            }
        data = pickle.dumps(
            {"seq": self.seq, "salt": self.salt, "backends": backends}, protocol=pickle.HIGHEST_PROTOCOL
        )
        tmp = self.snapshot_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.snapshot_file)
        # Entries up to self.seq are in the snapshot now; a crash before this truncation is harmless
        # (restore skips them by their sequence number).
        if self._wal is not None:
            self._wal.close()
            self._wal = None
        fd = os.open(self.wal_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        self.logged_since_snapshot = 0
        return time.monotonic() - started

"""What keeping the sandbox's AWS state costs, in moto's own process (no sockets, so only our part):

* per changing request (a DynamoDB PutItem of a roster entry, as POST /users writes it): what moto
  itself takes, and what moto_service's front adds: the signature check and the write-ahead log;
* a snapshot of the kept backends with a table of N items (taken while moto waits);
* a restart: loading that snapshot, and replaying a log of N changes.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from sandbox.aws_store import SNAPSHOT_EVERY, AwsStore  # noqa: E402
from sandbox.moto_service import ACCOUNT, SandboxAws, _auth_fields, signature_matches  # noqa: E402

REQUESTS = SNAPSHOT_EVERY  # the longest log a restart replays
SIZES = (200, 1000, 3000)
KEY = {"access_key_id": "sandbox", "secret_access_key": "bench-secret"}
TABLE = "bench-state"


def signed_environ(target: str, body: bytes) -> dict[str, Any]:
    """A DynamoDB request as moto's WSGI server would hand it over, signed as boto3 signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:5000/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}"},
    )
    SigV4Auth(Credentials(KEY["access_key_id"], KEY["secret_access_key"]), "dynamodb", "eu-west-1").add_auth(
        request
    )
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "REQUEST_URI": "/",
        "RAW_URI": "/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[f"HTTP_{key}"] = value
    environ["HTTP_HOST"] = "127.0.0.1:5000"
    environ["_body"] = body
    return environ


def put_item(n: int) -> dict[str, Any]:
    item = {
        "pk": {"S": "user"},
        "sk": {"S": f"participant{n:08d}"},
        "admin": {"BOOL": False},
        "on_hub": {"BOOL": False},
        "added_at": {"S": "2026-01-01T00:00:00Z"},
        "removing": {"BOOL": False},
    }
    return signed_environ("PutItem", json.dumps({"TableName": TABLE, "Item": item}).encode())


def call(app: Any, environ: dict[str, Any]) -> str:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(env.pop("_body"))
    status: list[str] = []
    b"".join(app(env, lambda s, h, *a: status.append(s)))
    return status[0]


def create_table(app: Any) -> None:
    keys = [("pk", "HASH"), ("sk", "RANGE")]
    body = {
        "TableName": TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
    }
    status = call(app, signed_environ("CreateTable", json.dumps(body).encode()))
    assert status.startswith("200"), status


def per_request_ms(app: Any, start: int, count: int) -> float:
    requests = [put_item(start + i) for i in range(count)]
    began = time.perf_counter()
    for environ in requests:
        status = call(app, environ)
        assert status.startswith("200"), status
    return (time.perf_counter() - began) / count * 1000


counter = itertools.count()


def _min_ms(work: Any, runs: int = 5, count: int = 1000) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        for _ in range(count):
            work()
        best = min(best, (time.perf_counter() - began) / count * 1000)
    return best


def _line_bytes(store: AwsStore) -> float:
    return store.wal_file.stat().st_size / max(1, store.logged_since_snapshot)


def main() -> None:
    from moto.backends import get_backend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto = DomainDispatcherApplication(create_backend_app)
    with tempfile.TemporaryDirectory(prefix="bench-aws-") as tmp:
        folder = Path(tmp)
        store = AwsStore(folder, ACCOUNT)
        kept = SandboxAws(moto, KEY, store)
        create_table(kept)
        store.snapshot()  # warm up: the first one imports and builds the other backends
        backend = get_backend("dynamodb")[ACCOUNT]["eu-west-1"]
        for size in SIZES:
            have = sum(1 for _ in backend.tables[TABLE].all_items())
            for n in range(have, size):
                call(moto, put_item(20_000_000 + n))
            seconds = store.snapshot()
            snapshot_3000 = seconds * 1000
            print(
                f"snapshot with {size:5d} items in the table        {seconds * 1000:7.1f} ms "
                f"({store.snapshot_file.stat().st_size / 1024:.0f} KiB)"
            )

        # What the front adds to each changing request, measured alone (min of 5 runs: the machine is
        # shared, and the minimum is the cost without others' interference).
        environ = put_item(1)
        body = environ["_body"]
        fields = _auth_fields(environ["HTTP_AUTHORIZATION"])
        assert fields is not None and signature_matches(environ, body, fields, KEY["secret_access_key"])
        check = _min_ms(lambda: signature_matches(environ, body, fields, KEY["secret_access_key"]))
        log = _min_ms(lambda: store.before_change(moto, "dynamodb", "eu-west-1", environ, body))
        moto_alone = _min_ms(lambda: call(moto, put_item(40_000_000 + next(counter))), runs=3, count=200)
        print("a changing request (DynamoDB PutItem, a roster entry), in moto's process:")
        print(f"  moto alone                    {moto_alone:6.3f} ms")
        print(f"  + the signature check         {check:6.3f} ms")
        print(f"  + the write-ahead log         {log:6.3f} ms   ({_line_bytes(store):.0f} bytes a request)")
        print(
            f"  snapshot amortized            {snapshot_3000 / SNAPSHOT_EVERY:6.3f} ms   (3000 items, every {SNAPSHOT_EVERY} changes)"
        )
        store.snapshot()

        # a restart: the last snapshot and a log of REQUESTS changes on top
        for i in range(REQUESTS):
            call(kept, put_item(30_000_000 + i))
        logged = store.logged_since_snapshot
        fresh = DomainDispatcherApplication(create_backend_app)
        for service in ("dynamodb", "ec2", "scheduler"):
            get_backend(service).reset()
        began = time.perf_counter()
        result = AwsStore(folder, ACCOUNT).restore(fresh)
        restart_s = time.perf_counter() - began
        print(f"restart: snapshot load + replay of {logged} logged changes  {restart_s:6.2f} s  {result}")


if __name__ == "__main__":
    main()

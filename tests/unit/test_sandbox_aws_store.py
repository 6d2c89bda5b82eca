"""moto_service's front and aws_store, on moto's real WSGI application in this process: who gets in,
what is logged, and that a restart (the backends emptied, then snapshot + log restored) gives back the
same state with the same random ids. The sandbox's own tests do the same with real processes and a
real SIGKILL (tests/integration/test_sandbox_crash.py)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from moto import mock_aws

from sandbox.aws_store import AwsStore, changes_state
from sandbox.moto_service import ACCOUNT, SandboxAws

KEY = {"access_key_id": "sandbox", "secret_access_key": "the-sandbox-secret"}
REGION = "eu-west-1"


def environ(
    service: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    path: str = "/",
    method: str = "POST",
    secret: str | None = KEY["secret_access_key"],
) -> dict[str, Any]:
    """A request as moto's WSGI server hands it over, signed as boto3 signs it (None: unsigned)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=f"http://127.0.0.1:5000{path}", data=body, headers=headers or {})
    if secret is not None:
        SigV4Auth(Credentials(KEY["access_key_id"], secret), service, REGION).add_auth(request)
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "REQUEST_URI": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": "127.0.0.1:5000",
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return env


def call(app: Any, env: dict[str, Any]) -> tuple[int, bytes]:
    status: list[str] = []
    body = b"".join(app(env, lambda s, h, *a: status.append(s)))
    return int(status[0].split()[0]), body


def ec2(action: str, **params: str) -> tuple[str, bytes, dict[str, str]]:
    form = urlencode({"Action": action, "Version": "2016-11-15", **params}).encode()
    return "ec2", form, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def dynamodb(operation: str, body: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}"}
    return "dynamodb", json.dumps(body).encode(), headers


def send(app: Any, request: tuple[str, bytes, dict[str, str]], **kwargs: Any) -> tuple[int, bytes]:
    service, body, headers = request
    return call(app, environ(service, body, headers=headers, **kwargs))


@pytest.fixture
def moto_app() -> Iterator[Any]:
    """moto's own application, its backends emptied before and after (mock_aws resets them)."""
    from moto.moto_api._internal import mock_random
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    with mock_aws():
        yield DomainDispatcherApplication(create_backend_app)
    mock_random.seed()  # the store seeded moto's random source: other tests get fresh randomness again


TABLE = {
    "TableName": "t",
    "BillingMode": "PAY_PER_REQUEST",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


def test_only_requests_signed_with_the_sandbox_key_get_in(moto_app: Any, tmp_path: Path) -> None:
    front = SandboxAws(moto_app, KEY, AwsStore(tmp_path, ACCOUNT))
    create = dynamodb("CreateTable", TABLE)
    assert send(front, create, secret=None)[0] == 403
    assert send(front, create, secret="a-guess")[0] == 403
    assert send(front, create)[0] == 200
    # a signature made for another body does not carry over to this one
    good = environ("dynamodb", b'{"TableName": "t"}', headers=create[2])
    tampered = environ("dynamodb", b'{"TableName": "u"}', headers=create[2])
    tampered["HTTP_AUTHORIZATION"] = good["HTTP_AUTHORIZATION"]
    tampered["HTTP_X_AMZ_DATE"] = good["HTTP_X_AMZ_DATE"]
    assert call(front, tampered)[0] == 403
    status, body = call(front, environ("s3", b"", path="/moto-api/data.json", method="GET", secret=None))
    assert status == 403 and b"signed with its own key" in body
    assert send(front, dynamodb("ListTables", {}))[0] == 200


def test_a_restart_gives_back_the_same_state_and_the_same_random_ids(moto_app: Any, tmp_path: Path) -> None:
    from moto.backends import get_backend

    front = SandboxAws(moto_app, KEY, AwsStore(tmp_path, ACCOUNT))
    assert send(front, dynamodb("CreateTable", TABLE))[0] == 200
    front.store.snapshot()  # type: ignore[union-attr]
    # after the snapshot: only in the log, to be replayed
    status, body = send(front, ec2("CreateVolume", AvailabilityZone=f"{REGION}a", Size="8"))
    assert status == 200
    volume = body.decode().split("<volumeId>")[1].split("<")[0]
    status, body = send(front, ec2("CreateSnapshot", VolumeId=volume))
    snapshot = body.decode().split("<snapshotId>")[1].split("<")[0]
    item = {"TableName": "t", "Item": {"pk": {"S": "alice"}, "admin": {"BOOL": True}}}
    assert send(front, dynamodb("PutItem", item))[0] == 200
    assert send(front, dynamodb("GetItem", {"TableName": "t", "Key": {"pk": {"S": "alice"}}}))[0] == 200
    logged = [json.loads(line) for line in (tmp_path / "moto.wal").read_text().splitlines()]
    assert [entry["seq"] for entry in logged] == [2, 3, 4]  # the read (GetItem) is not logged
    with (tmp_path / "moto.wal").open("a") as wal:
        wal.write('{"seq": 5, "service": "dynamodb", "regi')  # a line a crash cut short: never ran

    for service in ("ec2", "dynamodb", "scheduler"):
        get_backend(service).reset()
    restored = AwsStore(tmp_path, ACCOUNT).restore(moto_app)
    assert restored["snapshot"] is True and restored["replayed"] == 3

    again = SandboxAws(moto_app, KEY, AwsStore(tmp_path, ACCOUNT))
    status, body = send(again, ec2("DescribeSnapshots", **{"SnapshotId.1": snapshot}))
    assert status == 200 and volume in body.decode()  # the same snapshot id, of the same volume id
    status, body = send(again, dynamodb("GetItem", {"TableName": "t", "Key": {"pk": {"S": "alice"}}}))
    assert json.loads(body)["Item"]["admin"] == {"BOOL": True}


@pytest.mark.parametrize(
    ("service", "method", "headers", "body", "changes"),
    [
        ("dynamodb", "POST", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, b"{}", True),
        ("dynamodb", "POST", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactWriteItems"}, b"{}", True),
        ("dynamodb", "POST", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, b"{}", False),
        ("dynamodb", "POST", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.BatchGetItem"}, b"{}", False),
        ("ec2", "POST", {}, b"Action=StopInstances&Version=2016-11-15", True),
        ("ec2", "POST", {}, b"Action=DescribeInstances&Version=2016-11-15", False),
        ("ec2", "GET", {"QUERY_STRING": "Action=ModifyVolume"}, b"", True),
        ("scheduler", "POST", {}, b"{}", True),
        ("scheduler", "DELETE", {}, b"", True),
        ("scheduler", "GET", {}, b"", False),
        ("ssm", "POST", {"HTTP_X_AMZ_TARGET": "AmazonSSM.CreateDocument"}, b"{}", False),  # not kept
    ],
)
def test_what_is_logged(
    service: str, method: str, headers: dict[str, str], body: bytes, changes: bool
) -> None:
    assert changes_state(method, service, headers, body) is changes


def test_a_crash_before_any_snapshot_replays_with_the_same_ids(moto_app: Any, tmp_path: Path) -> None:
    """The first start writes a snapshot at once: the salt the log's ids are seeded with is kept."""
    from moto.backends import get_backend

    store = AwsStore(tmp_path, ACCOUNT)
    store.restore(moto_app)  # a fresh sandbox: nothing to load
    front = SandboxAws(moto_app, KEY, store)
    status, body = send(front, ec2("CreateVolume", AvailabilityZone=f"{REGION}a", Size="8"))
    assert status == 200
    volume = body.decode().split("<volumeId>")[1].split("<")[0]
    for service in ("ec2", "dynamodb", "scheduler"):
        get_backend(service).reset()
    assert AwsStore(tmp_path, ACCOUNT).restore(moto_app)["replayed"] == 1
    status, body = send(front, ec2("DescribeVolumes"))
    assert volume in body.decode()

"""Hostile input against the real API handler and the real ControlPlane (on the in-memory twins): every
answer is 400, 404 or 422 and names the field, never 500; nothing is recorded, queued or started."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from handlers import api

from tests.support.apigw import FakeContext, event, parse
from tests.support.twin_world import TwinWorld, twin_world

DEEP = 100_000
HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


def raw(text: str) -> dict[str, Any]:
    return {"raw": text}


# (method, path, body: a JSON value, {"raw": text} or {"bytes": b"..."}, headers, answer, field named)
CASES: list[tuple[str, str, Any, dict[str, str], int, str]] = [
    # the body the parser cannot take: 400, never 500
    ("POST", "/users", {"bytes": b'{"usernames": ["\xff\xfeada"]}'}, {}, 400, "body"),
    ("POST", "/users", raw("[" * DEEP + "]" * DEEP), {}, 400, "body"),
    ("POST", "/users", raw('{"a":' * DEEP + "1" + "}" * DEEP), {}, 400, "body"),
    ("POST", "/volume/grow", raw('{"size_gib": ' + "9" * 5000 + "}"), {}, 400, "body"),
    ("POST", "/volume/grow", raw('{"size_gib": ' + "9" * 4000 + "}"), {}, 422, "size_gib"),
    ("POST", "/volume/grow", raw('{"size_gib": 1e999}'), {}, 422, "size_gib"),
    ("POST", "/volume/grow", raw('{"size_gib": NaN}'), {}, 422, "size_gib"),
    ("POST", "/users", raw('\ufeff{"usernames": ["ada"]}'), {}, 400, "body"),
    ("POST", "/users", raw('{"usernames": ["ada"]'), {}, 400, "body"),
    ("POST", "/users", raw("[]"), {}, 400, "body"),
    ("POST", "/users", raw('"ada"'), {}, 400, "body"),
    ("POST", "/users", raw(""), {}, 400, "body"),
    # duplicate keys: the first would be dropped silently
    ("POST", "/users", raw('{"usernames": ["ada"], "usernames": ["eve"]}'), {}, 400, "'usernames'"),
    (
        "POST",
        "/instance/resize",
        raw('{"instance_type": "t3.large", "instance_type": "t3.xlarge"}'),
        {},
        400,
        "'instance_type'",
    ),
    ("POST", "/users", raw('{"usernames": ["ada"], "sources": {"ada": "a", "ada": "b"}}'), {}, 400, "'ada'"),
    ("POST", "/instance/stop", raw('{"force": false, "force": true}'), {}, 400, "'force'"),
    # unknown fields, on every route
    ("POST", "/instance/start", {"force": True}, {}, 422, "force"),
    ("POST", "/instance/start", {"instance_type": "t3.large"}, {}, 422, "instance_type"),
    ("POST", "/reconcile", {"everything": 1}, {}, 422, "everything"),
    ("POST", "/instance/stop", {"forse": True}, {}, 422, "forse"),
    ("POST", "/users", {"usernames": ["ada"], "role": "admin"}, {}, 422, "role"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://github.com/a/b", "branch": "x"}, {}, 422, "branch"),
    (
        "POST",
        "/users/passwords",
        {"credentials": [{"username": "ada", "hash": HASH, "pw": "x"}]},
        {},
        422,
        "credentials[0].pw",
    ),
    ("DELETE", "/packages/numpy?bogus=1", None, {}, 422, "bogus"),
    ("DELETE", "/users/ada?force=true", None, {}, 422, "force"),
    ("DELETE", "/packages/numpy", {"manager": "conda"}, {}, 400, "body"),
    ("GET", "/status?verbose=1", None, {}, 422, "verbose"),
    ("GET", "/operations?limit=5&all=1", None, {}, 422, "all"),
    ("GET", "/operations?limit=0", None, {}, 422, "limit"),
    ("GET", "/users", {"usernames": ["ada"]}, {}, 400, "body"),
    # sources: what people typed in a registration form, printed in the instructor's terminal
    (
        "POST",
        "/users",
        {"usernames": ["ada"], "sources": {"ada": "Ada \x1b]8;;https://evil\x07x"}},
        {},
        422,
        "sources.ada",
    ),
    (
        "POST",
        "/users",
        {"usernames": ["ada"], "sources": {"ada": "\x1b[2J\x1b[31mAda"}},
        {},
        422,
        "sources.ada",
    ),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"ada": "Ada\x00"}}, {}, 422, "sources.ada"),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"ada": "Ada\nLovelace"}}, {}, 422, "sources.ada"),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"ada": "\u202eecalevol"}}, {}, 422, "sources.ada"),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"ada": "\ud800"}}, {}, 422, "sources.ada"),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"ada": "x" * 201}}, {}, 422, "sources"),
    ("POST", "/users", {"usernames": ["ada"], "sources": {"\x1b[31m": "x"}}, {}, 422, "sources"),
    ("POST", "/users", {"usernames": ["\ud800"]}, {}, 422, "usernames[0]"),
    ("POST", "/users", {"usernames": ["a" * 100_000]}, {}, 422, "usernames[0]"),
    # data repos on non-public hosts
    (
        "POST",
        "/data/sync",
        {"name": "d", "repo": "https://169.254.169.254/latest/meta-data"},
        {},
        422,
        "repo",
    ),
    ("POST", "/data/sync", {"name": "d", "repo": "https://127.0.0.1:8443/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://2130706433/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://0xa9fea9fe/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://[::ffff:169.254.169.254]/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://[fd00:ec2::254]/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://localhost/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://instance-data.ec2.internal/x"}, {}, 422, "repo"),
    ("POST", "/data/sync", {"name": "d", "repo": "https://10.0.0.2/x"}, {}, 422, "repo"),
    # paths and headers
    ("DELETE", "/data/nowhere", None, {}, 404, "name"),
    ("DELETE", "/data/..%2Fetc", None, {}, 422, "name"),
    ("DELETE", "/users/%1B%5B31mada", None, {}, 422, "username"),
    ("DELETE", "/users/ghost", None, {}, 404, "username"),
    ("GET", "/operations/%00", None, {}, 422, "operation id"),
    ("POST", "/instance/start", None, {"Idempotency-Key": "k\x1b[31m"}, 422, "Idempotency-Key"),
    ("POST", "/instance/start", None, {"Idempotency-Key": "k" * 129}, 422, "Idempotency-Key"),
]


@pytest.fixture(scope="module")
def world() -> Iterator[TwinWorld]:
    with twin_world() as built:
        yield built


def request(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if isinstance(body, dict) and set(body) == {"raw"}:
        asked = event(method, path, raw_body=body["raw"], headers=headers)
    elif isinstance(body, dict) and set(body) == {"bytes"}:
        asked = event(method, path, raw_body="", headers=headers)
        asked["body"], asked["isBase64Encoded"] = base64.b64encode(body["bytes"]).decode(), True
    elif body is None:
        asked = event(method, path, headers=headers)
    else:
        asked = event(method, path, raw_body=json.dumps(body), headers=headers)
    return parse(api.handler(asked, FakeContext()))  # type: ignore[arg-type]


def nothing_recorded(world: TwinWorld) -> None:
    stores = world.stores
    assert stores.operations.recent() == []
    assert stores.lease.holder() is None and stores.lease.queue() == []
    assert stores.roster.entries(include_removing=True) == []
    desired = stores.desired.get()
    assert desired.data_repos == {} and desired.packages == {} and desired.removed_data == set()
    assert world.executions.arns == {}


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "field"), CASES)
def test_hostile_input_is_refused_naming_the_field_and_nothing_is_recorded(
    world: TwinWorld, method: str, path: str, body: Any, headers: dict[str, str], status: int, field: str
) -> None:
    reply = request(method, path, body, headers)
    assert reply.status == status, (reply.status, reply.body)
    assert field in reply.error, reply.error
    assert "\x1b" not in json.dumps(reply.body, ensure_ascii=False)  # an answer never carries an escape raw
    nothing_recorded(world)


def test_the_table_is_large_enough_to_mean_something() -> None:
    assert len(CASES) >= 50
    assert {status for *_, status, _ in CASES} == {400, 404, 422}

"""Bad input gets 400 or 422 naming the field and the rule, and nothing is recorded."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from handlers import api
from handlers import plane as handlers_plane

from tests.support.apigw import call
from tests.support.fake_plane import FakePlane

RULE_USERNAME = "is not a valid hub user name"


@pytest.fixture
def plane():
    fake = FakePlane()
    handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
    yield fake
    assert fake.ops == {}, "a refused request recorded an operation"
    handlers_plane.use_control_plane(None)


def post(path, body=None, **kwargs):
    return call(api.handler, "POST", path, body, **kwargs)


def test_a_bad_user_name_is_named_with_its_index_and_rule(plane):
    reply = post("/users", {"usernames": ["ada", "grace", "Bad Name"]})
    assert reply.status == 422
    assert reply.error.startswith(f"usernames[2]: 'Bad Name' {RULE_USERNAME}")


def test_every_problem_is_listed(plane):
    reply = post("/users", {"usernames": ["Ada", "ok", "x y"], "admin": "yes"})
    assert reply.status == 422
    assert [line.split(":")[0] for line in reply.body["errors"]] == ["usernames[0]", "usernames[2]", "admin"]


@pytest.mark.parametrize(
    ("path", "body", "starts"),
    [
        ("/users", {"usernames": []}, "usernames: "),
        ("/users", {"usernames": ["a"] * 201}, "usernames: "),
        ("/users", {"usernames": ["ada"], "admn": True}, "admn: is not a known field"),
        ("/users", {"usernames": [7]}, "usernames[0]: 7 "),
        ("/instance/stop", {"force": "true"}, "force: 'true' "),
        ("/instance/stop", {"forse": True}, "forse: is not a known field"),
        (
            "/instance/resize",
            {"instance_type": "t3.hyper"},
            "instance_type: 't3.hyper' is not an EC2 instance type",
        ),
        ("/instance/resize", {}, "instance_type: is required"),
        ("/instance/keep-awake", {"until": "tonight"}, "until: 'tonight' is not an ISO 8601"),
        (
            "/instance/keep-awake",
            {"until": "2030-01-01T10:00"},
            "until: '2030-01-01T10:00' must say its time zone",
        ),
        (
            "/instance/keep-awake",
            {"until": "2020-01-01T10:00+01:00"},
            "until: '2020-01-01T10:00+01:00' is in the past",
        ),
        ("/volume/grow", {"size_gib": "64"}, "size_gib: '64' "),
        ("/volume/grow", {"size_gib": 64.5}, "size_gib: 64.5 "),
        ("/volume/grow", {"size_gib": 0}, "size_gib: 0 "),
        ("/volume/grow", {"size_gib": True}, "size_gib: True "),
        ("/data/sync", {"repo": "https://github.com/a/b"}, "name: is required"),
        ("/data/sync", {"name": "../etc"}, "name: '../etc' is not a valid data name"),
        ("/data/sync", {"name": "d", "repo": "file:///etc"}, "repo: 'file:///etc' is not an allowed git URL"),
        (
            "/data/sync",
            {"name": "d", "ref": "--upload-pack=x"},
            "ref: '--upload-pack=x' is not a valid git ref",
        ),
        ("/data/sync", {"name": "d", "ref": "main.lock"}, "ref: 'main.lock' must not end with '.lock'"),
        ("/packages", {"packages": ["ok", "-e ."]}, "packages[1]: '-e .' is not an allowed pip requirement"),
        ("/packages", {"packages": ["gdal=3.9"], "manager": "conda", "x": 1}, "x: is not a known field"),
        ("/packages", {"packages": ["numpy"], "manager": "apt"}, "manager: 'apt' "),
        ("/packages", {"packages": "numpy"}, "packages: 'numpy' "),
    ],
)
def test_bad_bodies_are_422_naming_the_field(plane, path, body, starts):
    reply = post(path, body)
    assert reply.status == 422, reply.body
    assert reply.error.startswith(starts), reply.error


def test_a_far_keep_awake_uses_the_domains_limit(plane):
    far = (dt.datetime.now(dt.UTC) + dt.timedelta(days=120)).isoformat()
    reply = post("/instance/keep-awake", {"until": far})
    assert reply.status == 422 and "at most 90 days" in reply.error


@pytest.mark.parametrize("raw", ["{", "{'usernames': []}", "nul", "\x00"])
def test_malformed_json_is_400(plane, raw):
    reply = call(api.handler, "POST", "/users", raw_body=raw)
    assert reply.status == 400 and reply.error.startswith("body: is not valid JSON")


def test_malformed_json_on_an_optional_body_is_400(plane):
    reply = call(api.handler, "POST", "/instance/stop", raw_body="{force: true}")
    assert reply.status == 400


@pytest.mark.parametrize("body", [[], "ada", 3, None])
def test_a_body_that_is_not_an_object_is_400(plane, body):
    assert post("/users", body).status == 400


def test_a_missing_body_is_400(plane):
    assert call(api.handler, "POST", "/instance/resize").status == 400


@pytest.mark.parametrize("name", ["Ada", "a%20b", "..", "a;rm%20-rf", "%E2%80%8Bada", "-rf"])
def test_a_bad_name_in_the_path_is_refused(plane, name):
    reply = call(api.handler, "DELETE", f"/users/{name}")
    assert reply.status in (404, 422), reply.body


# --- the agent's hostile-input corpus, sent to every field --------------------------------------


def _hostile() -> dict[str, list[str]]:
    try:
        module = importlib.import_module("tests.agent.hostile")
    except ModuleNotFoundError:
        pytest.skip("tests/agent/hostile.py (the agent's hostile-input corpus) is not there yet")
    return dict(module.HOSTILE)


def _all_hostile() -> list[str]:
    values: list[str] = []
    for items in _hostile().values():
        values += [v for v in items if v not in values]
    return values


def _bodies(value: str):
    """Every API field with ``value`` in it, the other fields valid."""
    yield "/users", {"usernames": [value]}
    yield "/users", {"usernames": ["ada", value]}
    yield "/instance/resize", {"instance_type": value}
    yield "/instance/keep-awake", {"until": value}
    yield "/data/sync", {"name": value}
    yield "/data/sync", {"name": "data", "repo": value}
    yield "/data/sync", {"name": "data", "repo": "https://github.com/a/b", "ref": value}
    yield "/packages", {"packages": [value]}
    yield "/packages", {"packages": [value], "manager": "conda"}
    yield "/packages", {"packages": ["numpy"], "manager": value}


def _legitimately_valid(path: str, body: dict[str, object], value: str) -> bool:
    """A corpus entry may be hostile for one field and a fine value for another (e.g. 'main' as a name)."""
    from hubagent import rules

    checks = {
        ("/users", "usernames"): rules.check_username,
        ("/instance/resize", "instance_type"): rules.check_instance_type,
        ("/data/sync", "name"): rules.check_data_name,
        ("/data/sync", "repo"): rules.check_git_url,
        ("/data/sync", "ref"): rules.check_git_ref,
    }
    for (route, field), check in checks.items():
        if route == path and (
            body.get(field) == value or body.get(field) == ["ada", value] or body.get(field) == [value]
        ):
            try:
                check(value)
            except rules.RuleError:
                return False
            return True
    if path == "/packages" and body.get("packages") == [value]:
        try:
            rules.check_package(str(body.get("manager", "pip")), value)
        except rules.RuleError:
            return False
        return True
    return False


def test_the_hostile_corpus_is_refused_in_every_field(plane):
    values = _all_hostile()
    assert values
    checked = 0
    for value in values:
        for path, body in _bodies(value):
            if _legitimately_valid(path, body, value):
                continue
            reply = post(path, body)
            assert 400 <= reply.status < 500, (path, body, reply)
            assert reply.error, (path, body)
            checked += 1
    assert checked > 0


def test_the_hostile_corpus_is_refused_in_the_path_and_the_idempotency_key(plane):
    from urllib.parse import quote

    from hubagent import rules

    for value in _all_hostile():
        try:
            rules.check_username(value)
        except rules.RuleError:
            reply = call(api.handler, "DELETE", f"/users/{quote(value, safe='')}")
            assert 400 <= reply.status < 500, (value, reply)
        if not api.IDEMPOTENCY_KEY.fullmatch(value):
            assert post("/instance/start", headers={"Idempotency-Key": value}).status == 422

"""The API handler, driven with API Gateway proxy events, against an in-memory control plane."""

from __future__ import annotations

import pytest
from handlers import api
from handlers import plane as handlers_plane

from tests.support.apigw import FakeContext, call, event
from tests.support.fake_plane import FakePlane, in_an_hour


@pytest.fixture
def plane():
    fake = FakePlane()
    handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
    yield fake
    handlers_plane.use_control_plane(None)


def post(path, body=None, **kwargs):
    return (
        call(api.handler, "POST", path, body, **kwargs)
        if body is not None
        else call(api.handler, "POST", path, **kwargs)
    )


MUTATIONS = [
    ("POST", "/instance/start", None, "start", {}),
    ("POST", "/instance/stop", None, "stop", {"force": False}),
    ("POST", "/instance/stop", {"force": True}, "stop", {"force": True}),
    ("POST", "/instance/resize", {"instance_type": "t3.xlarge"}, "resize", {"instance_type": "t3.xlarge"}),
    ("POST", "/volume/grow", {"size_gib": 64}, "grow", {"size_gib": 64}),
    ("POST", "/data/sync", {"name": "workshopdata"}, "data-sync", {"name": "workshopdata", "ref": None}),
    (
        "POST",
        "/data/sync",
        {"name": "extra", "repo": "https://github.com/a/b", "ref": "v1.2"},
        "data-sync",
        {"name": "extra", "repo": "https://github.com/a/b", "ref": "v1.2"},
    ),
    (
        "POST",
        "/packages",
        {"packages": ["geopandas==1.0.1"]},
        "packages",
        {"packages": ["geopandas==1.0.1"], "manager": "pip"},
    ),
    (
        "POST",
        "/packages",
        {"packages": ["gdal=3.9"], "manager": "conda"},
        "packages",
        {"packages": ["gdal=3.9"], "manager": "conda"},
    ),
    (
        "POST",
        "/users",
        {"usernames": ["ada", "grace"]},
        "users-add",
        {"usernames": ["ada", "grace"], "admin": False},
    ),
    (
        "POST",
        "/users",
        {"usernames": ["ada"], "admin": True},
        "users-add",
        {"usernames": ["ada"], "admin": True},
    ),
    ("DELETE", "/users/ada", None, "users-remove", {"username": "ada"}),
]


@pytest.mark.parametrize(("method", "path", "body", "kind", "params"), MUTATIONS)
def test_a_mutation_answers_202_with_the_operation(plane, method, path, body, kind, params):
    reply = call(api.handler, method, path, body) if body is not None else call(api.handler, method, path)
    assert reply.status == 202, reply.body
    op_id = reply.body["operation_id"]
    assert reply.body == {"operation_id": op_id, "state": "queued"}
    assert reply.headers["Location"] == f"/prod/operations/{op_id}"
    [op] = plane.ops.values()
    assert (op.kind, op.params) == (kind, params)


def test_keep_awake_takes_an_iso_time_with_an_offset(plane):
    reply = post("/instance/keep-awake", {"until": in_an_hour()})
    assert reply.status == 202
    [op] = plane.ops.values()
    assert op.kind == "keep-awake" and op.params["until"].endswith("Z")


def test_get_status_users_and_an_operation(plane):
    assert call(api.handler, "GET", "/status").body["instance"]["state"] == "running"
    op_id = post("/users", {"usernames": ["ada"]}).body["operation_id"]
    plane.finish_all()
    assert call(api.handler, "GET", "/users").body == {
        "users": [{"username": "ada", "admin": False, "on_hub": True}]
    }
    op = call(api.handler, "GET", f"/operations/{op_id}").body
    assert op["state"] == "succeeded" and op["kind"] == "users-add"
    assert [s["state"] for s in op["steps"]] == ["succeeded", "succeeded"]
    assert all(s["started_at"] and s["ended_at"] for s in op["steps"])


def test_json_null_on_get_and_delete_is_no_body_but_anything_else_is_refused(plane):
    """JSON null is nothing on every route (a client that encodes "no body" as null), as on POST."""
    assert call(api.handler, "GET", "/status", None).status == 200
    assert call(api.handler, "DELETE", "/users/ada", None).status == 202
    reply = call(api.handler, "GET", "/users", raw_body="{}")
    assert reply.status == 400 and reply.error == "body: GET /users takes no body"
    assert call(api.handler, "DELETE", "/users/grace", raw_body="nullx").status == 400
    assert [op.kind for op in plane.ops.values()] == ["users-remove"]


def test_an_unknown_operation_is_404(plane):
    reply = call(api.handler, "GET", "/operations/op-nope")
    assert reply.status == 404 and "op-nope" in reply.error


def test_an_unknown_route_is_404(plane):
    assert call(api.handler, "GET", "/nowhere").status == 404
    assert plane.ops == {}


def test_a_second_operation_while_one_runs_is_409_naming_it(plane):
    plane.hold = True
    first = post("/instance/start").body["operation_id"]
    reply = post("/instance/resize", {"instance_type": "t3.large"})
    assert reply.status == 409
    assert reply.body["operation_id"] == first and first in reply.error
    assert len(plane.ops) == 1


def test_the_same_idempotency_key_gets_the_same_operation(plane):
    plane.hold = True
    headers = {"Idempotency-Key": "retry-7f3a"}
    first = post("/users", {"usernames": ["ada"]}, headers=headers)
    again = post("/users", {"usernames": ["ada"]}, headers=headers)
    assert first.status == again.status == 202
    assert first.body["operation_id"] == again.body["operation_id"]
    assert len(plane.ops) == 1
    assert plane.ops[first.body["operation_id"]].idempotency_key == "retry-7f3a"


def test_a_malformed_idempotency_key_is_refused(plane):
    reply = post("/instance/start", headers={"Idempotency-Key": "a b;rm"})
    assert reply.status == 422 and reply.error.startswith("Idempotency-Key:")
    assert plane.ops == {}


def test_the_correlation_id_is_the_request_id(plane):
    ev = event("POST", "/instance/start")
    api.handler(ev, FakeContext())  # type: ignore[arg-type]
    assert api.logger.get_correlation_id() == ev["requestContext"]["requestId"]


def test_a_custom_domain_location_has_no_stage(plane):
    reply = post("/instance/start", host="hub-api.example.org")
    assert reply.headers["Location"] == f"/operations/{reply.body['operation_id']}"


def test_a_bug_is_a_500_with_the_request_id_not_a_traceback(plane, monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(plane, "status", broken)
    reply = call(api.handler, "GET", "/status")
    assert reply.status == 500
    assert "secret" not in reply.error and "request id" in reply.error

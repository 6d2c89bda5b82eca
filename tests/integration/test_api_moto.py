"""The API handler on API Gateway events against a ControlPlane on moto: routes, the lock, the
idempotency key, and the hostile-input corpus (4xx, nothing recorded, no command sent)."""

from __future__ import annotations

import datetime as dt
import importlib
from urllib.parse import quote

import pytest
from handlers import api
from handlers import plane as handlers_plane

from tests.support.apigw import call
from tests.support.moto_hub import moto_hub


@pytest.fixture(scope="module")
def shared_hub():
    with moto_hub() as built:
        yield built


@pytest.fixture
def hub(shared_hub):
    shared_hub.reset()
    handlers_plane.use_control_plane(shared_hub.plane)
    yield shared_hub


def post(path, body=None, **kwargs):
    return (
        call(api.handler, "POST", path, body, **kwargs)
        if body is not None
        else call(api.handler, "POST", path, **kwargs)
    )


def run(hub, reply):
    assert reply.status == 202, reply.body
    hub.run_all()
    op = call(api.handler, "GET", f"/operations/{reply.body['operation_id']}").body
    assert op["state"] == "succeeded", op
    return op


def test_each_route_end_to_end(hub):
    status = call(api.handler, "GET", "/status")
    assert status.status == 200 and status.body["instance"]["id"] == hub.instance_id

    run(hub, post("/users", {"usernames": ["ada", "grace"], "admin": False}))
    assert ("users-add", {"Usernames": "ada grace", "Admin": "false"}) in hub.commands.calls
    users = call(api.handler, "GET", "/users").body["users"]
    assert {(u["username"], u["on_hub"]) for u in users} == {("ada", True), ("grace", True)}

    run(hub, call(api.handler, "DELETE", "/users/grace"))
    assert ("users-remove", {"Username": "grace"}) in hub.commands.calls

    run(hub, post("/data/sync", {"name": "workshopdata"}))
    assert hub.commands.sent[-1][0] == "data-sync"
    assert hub.commands.sent[-1][1]["Repo"] == "https://github.com/jupyterhub/nbgitpuller"

    run(hub, post("/packages", {"packages": ["geopandas==1.0.1"], "manager": "pip"}))
    assert hub.commands.sent[-1] == ("packages-install", {"Manager": "pip", "Packages": "geopandas==1.0.1"})

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(microsecond=0)
    keep = post("/instance/keep-awake", {"until": until.isoformat()})
    assert keep.status == 202 and keep.body["state"] == "succeeded"
    assert (
        call(api.handler, "GET", "/status")
        .body["keep_awake_until"]
        .startswith(until.strftime("%Y-%m-%dT%H:%M"))
    )

    run(hub, post("/instance/stop", {"force": True}))
    assert (
        hub.ec2.describe_instances(InstanceIds=[hub.instance_id])["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]
        == "stopped"
    )
    run(hub, post("/instance/resize", {"instance_type": "t3.large"}))
    run(hub, post("/instance/start"))
    instance = hub.ec2.describe_instances(InstanceIds=[hub.instance_id])["Reservations"][0]["Instances"][0]
    assert (instance["State"]["Name"], instance["InstanceType"]) == ("running", "t3.large")


def test_a_second_operation_is_accepted_and_waits_its_turn(hub):
    first = post("/instance/stop", {"force": True})
    second = post("/instance/start")
    users = post("/users", {"usernames": ["ada"]})  # users need no turn at all
    assert (first.status, second.status, users.status) == (202, 202, 202)
    status = call(api.handler, "GET", "/status").body
    assert {op["id"] for op in status["waiting"] + status["running"]} >= {second.body["operation_id"]}
    hub.run_all()
    states = [
        call(api.handler, "GET", f"/operations/{r.body['operation_id']}").body["state"]
        for r in (first, second)
    ]
    assert states == ["succeeded", "succeeded"]


def test_the_operations_list_is_newest_first(hub):
    ids = [post("/instance/start").body["operation_id"] for _ in range(3)]
    hub.run_all()
    listed = call(api.handler, "GET", "/operations?limit=2").body["operations"]
    assert [op["id"] for op in listed] == ids[::-1][:2]
    assert call(api.handler, "GET", "/operations?limit=0").status == 422


def test_reconcile_on_demand(hub):
    op = run(hub, post("/reconcile"))
    assert op["kind"] == "reconcile" and "results" in op["result"]


def test_a_retry_with_the_same_idempotency_key_is_the_same_operation(hub):
    headers = {"Idempotency-Key": "3f1c9a52-retry"}
    first = post("/users", {"usernames": ["ada"]}, headers=headers)
    again = post("/users", {"usernames": ["ada"]}, headers=headers)  # the hub is still locked by the first
    assert first.status == again.status == 202
    assert again.body["operation_id"] == first.body["operation_id"]
    hub.run_all()
    later = post("/users", {"usernames": ["ada"]}, headers=headers)
    assert later.body["operation_id"] == first.body["operation_id"]
    assert len(hub.commands.sent) == 1


def test_an_idempotency_key_reused_for_another_request_is_422(hub):
    headers = {"Idempotency-Key": "k-1"}
    run(hub, post("/instance/start", headers=headers))
    reply = post("/instance/stop", headers=headers)
    assert reply.status == 422 and reply.error.startswith("Idempotency-Key:")


def test_an_unknown_data_repo_without_a_repo_url_is_422(hub):
    reply = post("/data/sync", {"name": "unknown"})
    assert reply.status == 422 and reply.error.startswith("repo:")


def test_operations_not_found(hub):
    assert call(api.handler, "GET", "/operations/op-20990101T000000-abcdef").status == 404


# --- hostile input: 4xx, nothing recorded, no command sent ----------------------------------------


def hostile_values():
    try:
        module = importlib.import_module("tests.agent.hostile")
    except ModuleNotFoundError:
        pytest.skip("tests/agent/hostile.py (the agent's hostile-input corpus) is not there yet")
    values: list[str] = []
    for items in module.HOSTILE.values():
        values += [v for v in items if v not in values]
    return values


def _refused(check, value) -> bool:
    from hubagent import rules

    try:
        check(value)
    except rules.RuleError:
        return True
    return False


def test_the_hostile_corpus_in_every_field(hub):
    from hubagent import rules

    fields = [
        ("/users", lambda v: {"usernames": [v]}, rules.check_username),
        ("/users", lambda v: {"usernames": ["ada", v]}, rules.check_username),
        ("/instance/resize", lambda v: {"instance_type": v}, rules.check_instance_type),
        ("/data/sync", lambda v: {"name": v}, rules.check_data_name),
        ("/data/sync", lambda v: {"name": "data", "repo": v}, rules.check_git_url),
        (
            "/data/sync",
            lambda v: {"name": "data", "repo": "https://github.com/a/b", "ref": v},
            rules.check_git_ref,
        ),
        ("/packages", lambda v: {"packages": [v]}, lambda v: rules.check_package("pip", v)),
        (
            "/packages",
            lambda v: {"packages": [v], "manager": "conda"},
            lambda v: rules.check_package("conda", v),
        ),
        (
            "/packages",
            lambda v: {"packages": ["numpy"], "manager": v},
            lambda v: rules.check_package(v, "numpy"),
        ),
        ("/instance/keep-awake", lambda v: {"until": v}, lambda v: rules.check_username("X")),  # never a time
        (
            "/users/passwords",
            lambda v: {"credentials": [{"username": v, "hash": HASH}]},
            rules.check_username,
        ),
        (
            "/users/passwords",
            lambda v: {"credentials": [{"username": "ada", "hash": v}]},
            rules.check_bcrypt_hash,
        ),
    ]
    sent = 0
    for value in hostile_values():
        for path, body, check in fields:
            if not _refused(check, value):
                continue
            reply = post(path, body(value))
            assert 400 <= reply.status < 500, (path, value, reply)
            sent += 1
        if _refused(rules.check_username, value):
            reply = call(api.handler, "DELETE", f"/users/{quote(value, safe='')}")
            assert 400 <= reply.status < 500, (value, reply)
    assert sent > 0
    assert hub.table_items() == [], "a refused request recorded something"
    assert hub.executions.arns == {}
    assert hub.commands.calls == [], "a refused request sent a command"


def test_removing_a_name_not_on_the_roster_is_404_and_sends_nothing(hub):
    reply = call(api.handler, "DELETE", "/users/nobody")
    assert reply.status == 404 and "'nobody' is not on the roster" in reply.error
    assert call(api.handler, "DELETE", "/packages/nosuchpkg").status == 404
    assert hub.commands.calls == []


# --- initial passwords: bcrypt hashes only ---------------------------------------------------------

HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


def _hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def test_initial_password_hashes_reach_the_hub_and_nothing_keeps_them(hub):
    import json

    run(hub, post("/users", {"usernames": ["ada", "grace"]}))
    hashes = {"ada": _hash("AdaPassw0rd12"), "grace": _hash("GracePassw0rd")}
    body = {"credentials": [{"username": n, "hash": h} for n, h in hashes.items()], "reset": False}
    reply = post("/users/passwords", body)
    assert reply.status == 202, reply.body
    assert reply.headers["Location"].endswith(reply.body["operation_id"])
    op = run(hub, reply)
    assert op["kind"] == "users-set-passwords" and op["params"] == {
        "usernames": ["ada", "grace"],
        "reset": False,
    }
    assert op["result"]["set"] == ["ada", "grace"] and op["result"]["kept"] == []
    assert hub.commands.sent[-1] == (
        "users-set-passwords",
        {"Credentials": f"ada:{hashes['ada']} grace:{hashes['grace']}", "Reset": "false"},
    )
    assert "$2b$" not in json.dumps(op)
    assert not [i for i in hub.table_items() if i["pk"]["S"] == "passwords"]  # forgotten at the end
    assert "$2b$" not in json.dumps(hub.table_items())


@pytest.mark.parametrize(
    ("credential", "field", "rule"),
    [
        ({"username": "ada", "hash": "AdaPassw0rd12"}, "credentials[0].hash", "is not a bcrypt hash"),
        ({"username": "ada", "hash": HASH[:-1]}, "credentials[0].hash", "is not a bcrypt hash"),
        ({"username": "ada", "hash": HASH.replace("$12$", "$03$")}, "credentials[0].hash", "is not a bcrypt"),
        ({"username": "ada", "hash": HASH.replace("$2b$", "$2x$")}, "credentials[0].hash", "is not a bcrypt"),
        ({"username": "ada", "hash": HASH[:-1] + "!"}, "credentials[0].hash", "is not a bcrypt hash"),
        ({"username": "ada", "hash": 12}, "credentials[0].hash", "string"),
        ({"username": "Ada", "hash": HASH}, "credentials[0].username", "is not a valid hub user name"),
        ({"username": "ada", "password": "AdaPassw0rd12"}, "credentials[0].password", "is not a known field"),
    ],
)
def test_a_password_or_a_malformed_hash_is_422_naming_the_field(hub, credential, field, rule):
    reply = post("/users/passwords", {"credentials": [credential]})
    assert reply.status == 422, reply.body
    lines = reply.body.get("errors") or [reply.error]
    assert any(line.startswith(f"{field}: ") and rule in line for line in lines), reply.body
    assert "AdaPassw0rd12" not in json_text(reply.body)  # a password sent by mistake is not echoed
    assert hub.table_items() == [] and hub.commands.calls == []


def json_text(value):
    import json

    return json.dumps(value)


def test_credentials_in_bulk_are_checked_as_a_whole(hub):
    run(hub, post("/users", {"usernames": ["ada"]}))
    before = hub.table_items()
    twice = post("/users/passwords", {"credentials": [{"username": "ada", "hash": HASH}] * 2})
    assert twice.status == 422 and "credentials[1].username: 'ada' is given twice" in twice.error
    too_many = [{"username": f"user{i}", "hash": HASH} for i in range(51)]
    assert post("/users/passwords", {"credentials": too_many}).status == 422
    assert post("/users/passwords", {"credentials": []}).status == 422
    reset = post("/users/passwords", {"credentials": [{"username": "ada", "hash": HASH}], "reset": "yes"})
    assert reset.status == 422 and reset.error.startswith("reset: ")
    assert hub.table_items() == before


def test_a_name_not_on_the_roster_is_404_naming_it_and_nothing_is_recorded(hub):
    run(hub, post("/users", {"usernames": ["ada"]}))
    before, calls = hub.table_items(), list(hub.commands.calls)
    body = {"credentials": [{"username": "ada", "hash": HASH}, {"username": "mallory", "hash": HASH}]}
    reply = post("/users/passwords", body)
    assert reply.status == 404, reply.body
    assert reply.error == "credentials[1].username: 'mallory' is not on the roster (add the user first)"
    assert hub.table_items() == before and hub.commands.calls == calls

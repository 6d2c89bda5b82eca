"""The walk-in sign-up door on a real JupyterHub (FirstUseAuthenticator plus /hub/signup), opened, closed
and read by the agent zip as SSM runs it: each refusal has its message and creates nothing, a sign-up
makes the hub's user with FirstUse's password and logs it in, the spool feeds the roster, failed codes
are rate-limited per client address, and 50 walk-ins at once are 50 users once each."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hubagent import rules
from hubagent.door import client_address, form_problem

from sandbox.hub import HubSession
from tests.agent.conftest import Agent
from tests.support.localhub import LocalHub

pytestmark = pytest.mark.hub

CODE = "HJ7K-M3PX"


def hashed_code(code: str = CODE) -> str:
    return rules.hash_code(code, os.urandom(16))


def later(minutes: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def door_agent(hub_agent: Agent, hub: LocalHub) -> Agent:
    hub_agent.env |= hub.door_environ | {"HUBAGENT_HUB_PYTHON": sys.executable}
    return hub_agent


@pytest.fixture
def opened(door_agent: Agent) -> Iterator[Agent]:
    ran = door_agent.run("signup", "open", f"--until={later(30)}", stdin=hashed_code())
    assert ran.code == 0, ran.result
    yield door_agent
    door_agent.run("signup", "close")


def names(hub: LocalHub) -> set[str]:
    return set(hub.user_names())


def message(page: str) -> str:
    start = page.find('id="signup-message"')
    assert start >= 0, page[-2000:]
    return html.unescape(page[page.index(">", start) + 1 : page.index("</p>", start)])


def test_open_writes_a_root_only_door_with_the_hash_only(opened: Agent, hub: LocalHub) -> None:
    door_file = Path(hub.door_environ["HUBAGENT_SIGNUP_DOOR"])
    body = json.loads(door_file.read_text())
    assert body["open"] is True and rules.CODE_HASH.check("code_hash", body["code_hash"])
    assert CODE not in door_file.read_text() and rules.normalize_code(CODE) not in door_file.read_text()
    assert stat.S_IMODE(door_file.stat().st_mode) == 0o600
    page = HubSession(hub.base_url).get(f"/hub/signup?code={CODE}")
    assert page[0] == 200 and 'name="code" value="HJ7K-M3PX"' in page[2]  # pre-filled from the QR's link


def test_a_walk_in_gets_an_account_logged_in_and_reaches_the_roster(opened: Agent, hub: LocalHub) -> None:
    person = HubSession(hub.base_url)
    status, location, _ = person.signup("walk-ada", "ada-password-1", CODE.lower().replace("-", " "))
    assert status == 302, location
    assert "/hub/login" not in location
    assert any(c.name.startswith("jupyterhub-hub-login") for c in person.cookies)  # logged in at once
    assert "walk-ada" in names(hub)
    # FirstUse's own login takes the password chosen at the door, and no other
    assert hub.login("walk-ada", "ada-password-1")
    assert not hub.login("walk-ada", "someone-else-1")
    listed = opened.run("signup", "list", "--after=0").result
    assert [s[1] for s in listed["signups"]][-1] == "walk-ada" and listed["spool"]
    seen = listed["count"]
    again = opened.run("signup", "list", f"--after={seen}").result
    assert again["signups"] == [] and again["next"] is None


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"code": "WRONG-CODE"}, 403, "workshop code is not the one on the slide"),
        ({"username": "Walk.Bad"}, 400, "is not a valid hub user name"),
        ({"password": "short"}, 400, "8 characters or more"),
        ({"password2": "not-the-same-1"}, 400, "not the same"),
        ({"username": "instructor"}, 409, "is taken"),
    ],
)
def test_each_refusal_says_why_and_creates_nothing(
    opened: Agent, hub: LocalHub, form: dict[str, str], status: int, says: str
) -> None:
    before = names(hub)
    fields = {"username": "walk-nobody", "password": "good-password", "code": CODE} | form
    answer = HubSession(hub.base_url).signup(
        fields["username"], fields["password"], fields["code"], password2=form.get("password2")
    )
    assert answer[0] == status, answer[2][-800:]
    assert says in message(answer[2])
    assert names(hub) == before


def test_a_closed_door_creates_nothing(door_agent: Agent, hub: LocalHub) -> None:
    assert door_agent.run("signup", "open", f"--until={later(30)}", stdin=hashed_code()).code == 0
    closed = door_agent.run("signup", "close")
    assert closed.result["open"] is False and closed.result["changed"] is True
    before = names(hub)
    answer = HubSession(hub.base_url).signup("walk-late", "good-password", CODE)
    assert answer[0] == 403 and "door is closed" in message(answer[2])
    assert HubSession(hub.base_url).get("/hub/signup")[0] == 403
    assert names(hub) == before


def test_the_door_closes_at_its_time(door_agent: Agent, hub: LocalHub) -> None:
    import time

    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    assert door_agent.run("signup", "open", f"--until={until.isoformat()}", stdin=hashed_code()).code == 0
    assert HubSession(hub.base_url).get("/hub/signup")[0] == 200
    time.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    before = names(hub)
    answer = HubSession(hub.base_url).signup("walk-after", "good-password", CODE)
    assert answer[0] == 403 and "door is closed" in message(answer[2])
    assert names(hub) == before


def test_a_door_from_an_earlier_boot_is_closed(opened: Agent, hub: LocalHub) -> None:
    door_file = Path(hub.door_environ["HUBAGENT_SIGNUP_DOOR"])
    body = json.loads(door_file.read_text())
    door_file.write_text(json.dumps(body | {"boot_id": secrets.token_hex(16)}))
    assert HubSession(hub.base_url).get("/hub/signup")[0] == 403


def test_wrong_codes_are_rate_limited_per_address(hub_agent: Agent, tmp_path: Path) -> None:
    # Its own hub: the limit lasts 15 minutes for the address every test here comes from.
    with LocalHub(tmp_path / "hub") as own:
        hub_agent.env |= own.door_environ | {
            "HUBAGENT_HUB_API": own.api_url,
            "HUBAGENT_TOKEN_FILE": str(own.token_file),
        }
        assert hub_agent.run("signup", "open", f"--until={later(30)}", stdin=hashed_code()).code == 0
        # Behind configurable-http-proxy (1 hop) the address is the one the proxy appends, 127.0.0.1,
        # whatever a browser writes into X-Forwarded-For itself.
        person = HubSession(own.base_url)
        for i in range(20):
            spoofed = f"203.0.113.{i}"
            assert (
                person.signup("walk-guess", "good-password", "NOPE-NOPE", X_Forwarded_For=spoofed)[0] == 403
            )
        blocked = person.signup("walk-guess", "good-password", CODE, X_Forwarded_For="198.51.100.7")
        assert blocked[0] == 429 and "Too many wrong workshop codes" in message(blocked[2])
        assert "walk-guess" not in own.user_names()


def test_fifty_walk_ins_at_once_are_fifty_users_once_each(opened: Agent, hub: LocalHub) -> None:
    wanted = [f"walk-{i:02d}" for i in range(50)] + [f"walk-{i:02d}" for i in range(10)]  # 10 race twice

    def sign(name: str) -> int:
        return HubSession(hub.base_url).signup(name, f"{name}-password", CODE)[0]

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(sign, wanted))
    assert statuses.count(302) == 50 and statuses.count(409) == 10, statuses
    on_hub = names(hub)
    assert {f"walk-{i:02d}" for i in range(50)} <= on_hub
    signups = opened.run("signup", "list").result
    listed = [s[1] for s in signups["signups"] if s[1].startswith("walk-") and s[1][5:].isdigit()]
    assert sorted(listed) == sorted(set(listed)) and len(listed) == 50
    assert hub.login("walk-07", "walk-07-password")


def test_the_clients_address_is_the_hop_the_proxies_appended() -> None:
    # Behind CloudFront and traefik: viewer-written, then CloudFront's viewer entry, then traefik's.
    assert client_address("6.6.6.6, 198.51.100.7, 130.176.0.1", 2, "127.0.0.1") == "198.51.100.7"
    assert client_address("198.51.100.7, 130.176.0.1", 2, "127.0.0.1") == "198.51.100.7"
    assert client_address("130.176.0.1", 2, "127.0.0.1") == "130.176.0.1"
    assert client_address("", 2, "127.0.0.1") == "127.0.0.1"
    assert client_address("6.6.6.6, 127.0.0.1", 1, "127.0.0.1") == "127.0.0.1"


def test_the_form_names_the_rule() -> None:
    assert "lowercase" in form_problem("Ada", "good-password", "good-password")
    assert form_problem("ada", "good-password", "good-password") == ""


def test_open_refuses_bad_input(door_agent: Agent) -> None:
    past = door_agent.run("signup", "open", "--until=2020-01-01T00:00:00+00:00", stdin=hashed_code())
    assert past.code == 2 and "in the past" in past.result["error"]
    plain = door_agent.run("signup", "open", f"--until={later(5)}", stdin=CODE)
    assert plain.code == 2 and CODE not in plain.result["error"]

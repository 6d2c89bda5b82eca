"""Walk-in sign-up end to end in the sandbox (its own): hubctl opens the door through the API, the worker
and hubagent; a participant with only the slide's link (the URL the QR code holds) signs up in headless
Chromium and lands in JupyterLab; each refusal is shown in the browser and creates nothing; 50 walk-ins
at once are 50 users once each and all reach the roster as walk-ins; the door closes on time."""

from __future__ import annotations

import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sandbox.hub import HubSession
from tests.integration.test_sandbox import Sandbox, browser, hub_user_names, sandbox  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.hub]


def _json(output: str) -> dict[str, Any]:
    start = output.rfind("\n{")
    return dict(json.loads(output[start + 1 if start >= 0 else output.index("{") :]))


def _message(driver: Any) -> str:
    from selenium.common.exceptions import NoSuchElementException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    try:  # the answer to the form's POST may still be on its way
        found = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "signup-message")))
        return str(found.text)
    except (NoSuchElementException, TimeoutException):
        raise AssertionError(f"no message on {driver.current_url}:\n{driver.page_source[-3000:]}") from None


def _fill(driver: Any, username: str, password: str, code: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "username_input").send_keys(username)
    driver.find_element(By.ID, "password_input").send_keys(password)
    driver.find_element(By.ID, "password2_input").send_keys(password)
    if code is not None:
        field = driver.find_element(By.ID, "code_input")
        field.clear()
        field.send_keys(code)
    driver.find_element(By.ID, "signup_submit").click()


def test_a_walk_in_goes_from_the_slides_link_to_jupyterlab(
    sandbox: Sandbox,  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    png = tmp_path / "signup.png"
    code, out = sandbox.hubctl("signup", "open", "--until", "+2h", "--png", str(png))
    assert code == 0, out
    door = _json(out)
    assert door["open"] and door["link"].startswith(f"{sandbox.hub_url}/hub/signup?code=")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the QR code of door["link"], for the slide
    before = hub_user_names(sandbox)

    # The participant opens the link the QR code holds: the code is filled in already.
    browser.get(door["link"])
    assert browser.find_element(By.ID, "code_input").get_attribute("value") == door["code"]
    for name, password, typed, says in [
        ("walk-x", "walk-x-password", "WRONG-CODE", "workshop code is not the one on the slide"),
        ("Walk.Bad", "walk-password", None, "is not a valid hub user name"),
        ("instructor", "walk-password", None, "is taken"),
    ]:
        browser.get(door["link"])
        _fill(browser, name, password, typed)
        assert says in _message(browser)
    assert hub_user_names(sandbox) == before  # nothing was created

    browser.get(door["link"])
    _fill(browser, "walk-web", "walk-web-password")
    wait = WebDriverWait(browser, 120)
    wait.until(ec.url_contains("/user/walk-web/lab"))
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".jp-DirListing-item")))

    code, out = sandbox.hubctl("users", "list")
    assert code == 0, out
    (walk_in,) = [u for u in _json(out)["users"] if u["username"] == "walk-web"]
    assert walk_in["source"] == "walk-in" and walk_in["on_hub"] is True

    code, out = sandbox.hubctl("signup", "close")
    assert code == 0, out
    browser.get(f"{sandbox.hub_url}/hub/logout")
    browser.get(door["link"])
    assert "door is closed" in _message(browser)
    assert not browser.find_elements(By.ID, "signup_submit")

    code, out = sandbox.hubctl("users", "remove", "walk-web")
    assert code == 0, out
    assert "walk-web" not in hub_user_names(sandbox)


def test_fifty_walk_ins_at_once_and_the_door_closes_on_time(sandbox: Sandbox) -> None:  # noqa: F811
    def open_until(until: dt.datetime) -> None:
        status, accepted = sandbox.http(
            "POST", "/signup", {"open": True, "until": until.isoformat(), "code": "HJ7K-M3PX"}
        )
        assert status == 202, accepted
        assert sandbox.wait_op(accepted["operation_id"])["state"] == "succeeded"

    open_until(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    wanted = [f"walk-{i:02d}" for i in range(50)]

    def sign(name: str) -> int:
        return HubSession(sandbox.hub_url).signup(name, f"{name}-password", "hj7k m3px")[0]

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(sign, wanted + wanted[:10]))  # ten of them twice, at once
    assert statuses.count(302) == 50 and statuses.count(409) == 10, statuses
    assert set(wanted) <= hub_user_names(sandbox)

    status, listed = sandbox.http("GET", "/users")
    assert status == 200, listed
    walk_ins = [u["username"] for u in listed["users"] if u.get("source") == "walk-in"]
    assert sorted(walk_ins) == sorted(set(walk_ins)) and set(wanted) <= set(walk_ins)

    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    open_until(until)
    assert HubSession(sandbox.hub_url).get("/hub/signup")[0] == 200
    time.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    late = HubSession(sandbox.hub_url).signup("walk-late", "walk-late-password", "HJ7K-M3PX")
    assert late[0] == 403 and "door is closed" in late[2]
    assert "walk-late" not in hub_user_names(sandbox)

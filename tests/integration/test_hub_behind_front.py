"""Why the hub's XSRF setting matters, shown through the sandbox's own HTTPS front: a real JupyterHub
(the sandbox's config, stand-in servers) behind ``python -m sandbox.front`` as ``up`` starts it, once
with ``JUPYTERHUB_XSRF_ANONYMOUS_IP_CIDRS`` as the sandbox and the instance set it, once without.

The front forwards each request from another address (as CloudFront's servers do), so the login form's
GET and its POST reach the hub from two addresses: without the setting the XSRF token, bound to the
first, fails the POST.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import control, tls
from sandbox.hub import HubSession, free_port
from sandbox.layout import PROJECT, Layout
from tests.support.localhub import LocalHub

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(
        not (PROJECT / "node_modules" / ".bin" / "configurable-http-proxy").exists(),
        reason="configurable-http-proxy is not installed (npm ci)",
    ),
]

PASSWORD = "ada-first-password"


class Behind:
    def __init__(self, hub: LocalHub, url: str, ca_file: Path) -> None:
        self.hub, self.url, self.ca_file = hub, url, ca_file

    def session(self) -> HubSession:
        return HubSession(self.url, ca_file=self.ca_file)

    def logged(self, text: str, timeout_s: float = 10) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.hub.log_file.read_text(errors="replace"):
                return True
            time.sleep(0.1)
        return False


def behind_front(root: Path, xsrf_cidrs: str) -> Iterator[Behind]:
    layout = Layout(root)
    layout.logs.mkdir(parents=True)
    issued = tls.ensure(layout.tls)
    hub = LocalHub(root / "hub")
    hub.behind_front = True
    hub.xsrf_anonymous_cidrs = xsrf_cidrs
    hub.start()
    port = free_port()
    front = control.start_front(layout, port, hub.port, issued.files, {})
    try:
        url = f"https://127.0.0.1:{port}"
        control.wait_front(url, issued.files.ca_cert, front, layout.logs / "front.log")
        status, _ = hub.api("POST", "/users/ada")
        assert status == 201
        yield Behind(hub, url, issued.files.ca_cert)
    finally:
        front.terminate()
        front.wait(10)
        hub.stop()


@pytest.fixture(scope="module")
def as_the_sandbox_runs_it(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Behind]:
    yield from behind_front(tmp_path_factory.mktemp("front-xsrf-on"), "0.0.0.0/0;::/0")


@pytest.fixture(scope="module")
def without_the_xsrf_setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Behind]:
    yield from behind_front(tmp_path_factory.mktemp("front-xsrf-off"), "")


def _login_addresses(behind: Behind) -> tuple[str, str]:
    """The client addresses the hub logged for the last login form's GET and its POST."""
    lines = behind.hub.log_file.read_text(errors="replace").splitlines()
    get = [line for line in lines if " GET /hub/login " in line][-1]
    post = [line for line in lines if " POST /hub/login " in line][-1]
    return get.rsplit("@", 1)[1].split(")")[0], post.rsplit("@", 1)[1].split(")")[0]


def test_through_the_front_the_login_works_and_its_cookies_are_secure(as_the_sandbox_runs_it: Behind) -> None:
    session = as_the_sandbox_runs_it.session()
    assert session.login("ada", PASSWORD)
    get_from, post_from = _login_addresses(as_the_sandbox_runs_it)
    assert get_from != post_from  # the address changed between the form and its POST, and it worked
    cookies = {cookie.name: cookie for cookie in session.cookies}
    assert cookies["jupyterhub-hub-login"].secure  # the hub saw https (the proxy kept the front's header)
    assert cookies["_xsrf"].secure


def test_without_the_xsrf_setting_the_same_login_through_the_front_is_refused(
    without_the_xsrf_setting: Behind,
) -> None:
    assert not without_the_xsrf_setting.session().login("ada", PASSWORD)
    assert without_the_xsrf_setting.logged("XSRF cookie does not match POST argument")
    # and the participant is told so, on the login form (FirstUse's own handler left an empty page)
    session = without_the_xsrf_setting.session()
    assert session.get("/hub/login")[0] == 200
    status, _, page = session.post_page("/hub/login", {"username": "ada", "password": PASSWORD})
    assert status == 403
    assert "Login form invalid or expired" in page and 'id="username_input"' in page, page[-800:]
    assert without_the_xsrf_setting.logged("403 POST /hub/login")
    get_from, post_from = _login_addresses(without_the_xsrf_setting)
    assert get_from != post_from


def test_the_front_is_stopped_by_sigterm(tmp_path: Path) -> None:
    """``down`` stops it as the other parts: SIGTERM to its group, and it exits at once, cleanly."""
    layout = Layout(tmp_path)
    layout.logs.mkdir()
    issued = tls.ensure(layout.tls)
    front = control.start_front(layout, free_port(), free_port(), issued.files, {})
    log = layout.logs / "front.log"
    deadline = time.monotonic() + 30
    while "front on https://" not in log.read_text() and time.monotonic() < deadline:
        assert front.poll() is None, log.read_text()
        time.sleep(0.05)
    front.terminate()
    assert front.wait(10) == 0
    assert "front stops after 0 requests" in log.read_text()

"""The hub behind CloudFront, with a real JupyterHub: the first-boot script's settings, taken from the
script itself, make the login work when a different CloudFront server forwards each request, and the
hub's cookies Secure.

On the instance, traefik (told to keep CloudFront's forwarded headers) hands the hub what these requests
carry: ``X-Forwarded-Proto: https`` from CloudFront's origin header, ``X-Forwarded-For: <viewer>, <edge>``
and ``X-Real-Ip: <edge>``, the CloudFront server that connected. The requests go straight to the hub's
port here, as traefik's would. Cookies are kept by hand, as a browser on https keeps Secure ones.
"""

from __future__ import annotations

import ast
import http.client
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks.user_data import BootstrapValues, render
from tests.support.localhub import LocalHub

HOST = "d111111abcdef8.cloudfront.net"
VIEWER = "198.51.100.23"
# Two of CloudFront's origin-facing servers: the login page comes through one, its POST through the other.
EDGE_A, EDGE_B = "130.176.12.34", "15.158.56.78"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) workshop-hub-test"
PASSWORD = "Correct-Horse-7"


def first_boot_script() -> str:
    return render(
        BootstrapValues(
            hub_name="workshop-hub",
            tljh_version="2.0.0",
            admin_user="instructor",
            admin_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            region="eu-west-1",
            wait_handle_url="https://example.invalid/handle",
        )
    )


def heredoc(script: str, marker: str, after: str) -> str:
    start = script.index(f"<<'{marker}'\n", script.index(after)) + len(f"<<'{marker}'\n")
    return script[start : script.index(f"\n{marker}\n", start)]


def hub_environment(unit: str) -> dict[str, str]:
    settings = (line.removeprefix("Environment=").strip('"') for line in unit.splitlines())
    return dict(s.split("=", 1) for s in settings if "=" in s and not s.startswith(("#", "[")))


SCRIPT = first_boot_script()
PROXY_SNIPPET = heredoc(SCRIPT, "PY", 'cat >"$HUB_CONFIG_D/workshop-hub-proxy.py"')
LOGIN_SNIPPET = heredoc(SCRIPT, "PY", 'cat >"$HUB_CONFIG_D/workshop-hub-login.py"')
HUB_UNIT = heredoc(SCRIPT, "UNIT", 'cat >"$HUB_UNIT_D/workshop-hub-cloudfront.conf"')


class HubWithSnippet(LocalHub):
    """The local hub with the instance's jupyterhub_config.d snippet loaded after its own config."""

    def write_config(self) -> Path:
        path = super().write_config()
        path.write_text(path.read_text() + "\n" + PROXY_SNIPPET + "\n", encoding="utf-8")
        return path


class FirstUseHubWithLoginSnippet(LocalHub):
    """As the instance before the sign-up door is installed: TLJH's FirstUse, then the login snippet."""

    def write_config(self) -> Path:
        path = super().write_config()
        first_use = 'c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"'
        path.write_text(f"{path.read_text()}\n{first_use}\n{LOGIN_SNIPPET}\n", encoding="utf-8")
        return path


def start_hub(root: Path, environment: dict[str, str]) -> Iterator[LocalHub]:
    yield from _start(HubWithSnippet(root), environment)


def _start(hub: LocalHub, environment: dict[str, str]) -> Iterator[LocalHub]:
    # The hub process takes this process's environment when it starts (as the unit's drop-in gives it).
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("JUPYTERHUB_XSRF_ANONYMOUS_IP_CIDRS", raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        hub.start()
    try:
        status, _ = hub.api("POST", "/users/ada")
        assert status == 201
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def configured_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """As the instance runs it: the drop-in's environment and the proxy snippet."""
    yield from start_hub(tmp_path_factory.mktemp("behind-cloudfront"), hub_environment(HUB_UNIT))


@pytest.fixture(scope="module")
def bare_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """Without the drop-in's environment: what the hub did before."""
    yield from start_hub(tmp_path_factory.mktemp("bare"), {})


def logged(hub: LocalHub, text: str, timeout_s: float = 10) -> bool:
    """Whether the hub's log shows ``text`` within ``timeout_s`` (the access line follows the answer)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in hub.log_file.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


class Browser:
    """A browser on https://HOST whose every request reaches the hub through one CloudFront server."""

    def __init__(self, hub: LocalHub, proto: str = "https") -> None:
        self.hub = hub
        self.proto = proto
        self.cookies: dict[str, str] = {}
        self.set_cookie: dict[str, str] = {}  # name -> the whole Set-Cookie line, attributes included

    def request(
        self, method: str, path: str, edge: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        headers = {
            "Host": HOST,
            "User-Agent": BROWSER,
            "X-Forwarded-Proto": self.proto,
            "X-Forwarded-For": f"{VIEWER}, {edge}",
            "X-Forwarded-Host": HOST,
            "X-Real-Ip": edge,
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Site": "same-origin",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://{HOST}"
        connection = http.client.HTTPConnection("127.0.0.1", self.hub.hub_port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            reply = connection.getresponse()
            for line in reply.headers.get_all("Set-Cookie") or []:
                name, _, rest = line.partition("=")
                self.set_cookie[name] = line
                self.cookies[name] = rest.split(";", 1)[0]
            return reply.status, dict(reply.headers), reply.read().decode(errors="replace")
        finally:
            connection.close()

    def log_in(self, username: str, password: str) -> tuple[int, dict[str, str], str]:
        status, _, page = self.request("GET", "/hub/login", EDGE_A)
        assert status == 200, page[-500:]
        token = re.search(r'name="_xsrf"\s+value="([^"]+)"', page)
        assert token, "the login form carries its _xsrf token"
        form = {"username": username, "password": password, "_xsrf": token.group(1)}
        return self.request("POST", "/hub/login", EDGE_B, form)


def test_login_works_when_another_cloudfront_server_forwards_the_post(configured_hub: LocalHub) -> None:
    browser = Browser(configured_hub)
    status, headers, body = browser.log_in("ada", PASSWORD)
    assert status == 302, body[-500:]
    # The redirect stays on the browser's https address: a path, or https.
    location = headers["Location"]
    assert location.startswith(("/", "https://")), location
    assert "/hub/login" not in location
    assert any(name.startswith("jupyterhub-hub-login") for name in browser.cookies)


def test_without_the_setting_the_same_login_is_refused(bare_hub: LocalHub) -> None:
    """The failure the drop-in prevents: the XSRF id was bound to the first CloudFront server's address."""
    status, _, _ = Browser(bare_hub).log_in("ada", PASSWORD)
    assert status == 403
    assert logged(bare_hub, "XSRF cookie does not match POST argument")
    # The hub saw the CloudFront server, not the participant, as the client.
    assert logged(bare_hub, f"403 POST /hub/login (@{EDGE_B})")


def test_cookies_are_secure_when_cloudfront_says_https(configured_hub: LocalHub) -> None:
    browser = Browser(configured_hub)
    status, _, _ = browser.log_in("ada", PASSWORD)
    assert status == 302
    login_cookies = {
        name: line for name, line in browser.set_cookie.items() if name.startswith("jupyterhub-")
    }
    assert login_cookies, browser.set_cookie
    for name, line in [*login_cookies.items(), ("_xsrf", browser.set_cookie["_xsrf"])]:
        attributes = {part.strip().split("=")[0].lower() for part in line.split(";")[1:]}
        assert "secure" in attributes, (name, line)
    assert "httponly" in {p.strip().lower() for p in login_cookies[next(iter(login_cookies))].split(";")}


def test_a_scheme_left_as_http_gives_cookies_a_browser_would_send_in_clear(configured_hub: LocalHub) -> None:
    """Why traefik must keep CloudFront's X-Forwarded-Proto: with its own (http), the login cookie is not
    Secure (the snippet keeps only the _xsrf cookie Secure)."""
    browser = Browser(configured_hub, proto="http")
    status, _, _ = browser.log_in("ada", PASSWORD)
    assert status == 302
    line = next(line for name, line in browser.set_cookie.items() if name.startswith("jupyterhub-hub-login"))
    assert "secure" not in {p.strip().lower() for p in line.split(";")[1:]}


def test_the_sandbox_hub_behind_its_front_has_the_instances_settings(tmp_path: Path) -> None:
    """The sandbox's front plays CloudFront and its hub is set up as the instance's: the same XSRF
    variable in the hub's environment, the same Secure XSRF cookie line, and a proxy that keeps the
    front's X-Forwarded-Proto (configurable-http-proxy's --no-x-forward, as traefik's forwardedHeaders)."""
    from sandbox.hub import CHP, XSRF_ANY_ADDRESS, XSRF_CIDRS_ENV
    from sandbox.hub import LocalHub as SandboxHub

    assert hub_environment(HUB_UNIT) == {XSRF_CIDRS_ENV: XSRF_ANY_ADDRESS}
    config = SandboxHub(tmp_path, behind_front=True).write_config().read_text()
    secure_xsrf = next(line for line in PROXY_SNIPPET.splitlines() if "tornado_settings" in line)
    assert secure_xsrf.strip() in config
    settings = json.loads(ast.literal_eval(config.split("s = json.loads(", 1)[1].split(")\n", 1)[0]))
    assert settings["proxy_command"] == [str(CHP), "--no-x-forward"]
    assert "insecure = true" in heredoc(
        SCRIPT, "TOML", 'cat >"$TRAEFIK_CONFIG_D/workshop-hub-cloudfront.toml"'
    )


@pytest.fixture(scope="module")
def first_use_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """TLJH's FirstUse with the instance's login snippet, without the drop-in's environment."""
    yield from _start(FirstUseHubWithLoginSnippet(tmp_path_factory.mktemp("first-use")), {})


def test_a_refused_login_form_is_shown_again_with_why_not_an_empty_page(first_use_hub: LocalHub) -> None:
    """FirstUse 1.1.1 under JupyterHub 5 rendered the login POST's error page as an empty 403 (its
    _render took no ``sync``); with the login snippet's ``_render`` the form and the reason are shown."""
    status, _, page = Browser(first_use_hub).log_in("ada", PASSWORD)  # two edges, no setting: XSRF fails
    assert status == 403
    assert "Login form invalid or expired" in page and 'id="username_input"' in page, page[-800:]
    assert not logged(first_use_hub, "unexpected keyword argument", timeout_s=0.5)

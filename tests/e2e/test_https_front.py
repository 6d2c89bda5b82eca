"""HTTPS in front of the deployed hub (CloudFront): what only AWS can show. Opt-in, like test_deployed_hub.py:
skipped without WORKSHOP_HUB_E2E=1 and credentials.

From this computer, as a participant's browser would: the hub answers at the stack's https HubUrl through
CloudFront; plain http is redirected; the instance itself answers nobody but CloudFront; a participant
logs in over https (several times, so different CloudFront servers forward the form and its POST) and
gets Secure cookies; their JupyterLab's kernel runs a cell over a WebSocket through CloudFront, and the
WebSocket outlives CloudFront's 60 s origin read timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.cookiejar import Cookie
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl.cli import app
from sandbox.hub import HubSession

pytestmark = pytest.mark.e2e

# Longer than CloudFront's origin read timeout (60 s): a WebSocket is not cut by it.
IDLE_WEBSOCKET_S = 75


def _credentials() -> bool:
    try:
        import boto3

        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


if os.environ.get("WORKSHOP_HUB_E2E") != "1" or not _credentials():
    pytest.skip(
        "real AWS: set WORKSHOP_HUB_E2E=1 with credentials for a deployed hub", allow_module_level=True
    )


def hubctl(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["--output", "json", *args])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.fixture(scope="module")
def config() -> Any:
    from workshop_hub import config as workshop_config

    return workshop_config.load(os.environ.get("WORKSHOP_HUB_CONFIG", "workshop.yaml"))


@pytest.fixture(scope="module")
def outputs(config: Any) -> dict[str, str]:
    from hubctl.discovery import stack_outputs

    return stack_outputs(f"{config.hub.name}-hub", config.hub.region)


@pytest.fixture(scope="module")
def running_hub() -> Iterator[None]:
    was_stopped = hubctl("status")["instance"]["state"] == "stopped"
    hubctl("start")
    yield
    if was_stopped:
        hubctl("stop", "--force")


@pytest.fixture(scope="module")
def participant(running_hub: None) -> Iterator[tuple[str, str]]:
    name = f"e2e-{secrets.token_hex(3)}"
    hubctl("users", "add", name)
    yield name, f"E2e-{secrets.token_urlsafe(12)}"
    hubctl("users", "remove", name)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_hub_url_is_https_and_served_by_cloudfront(outputs: dict[str, str], running_hub: None) -> None:
    url = outputs["HubUrl"]
    assert url.startswith("https://")
    status, headers, body = fetch(f"{url}/hub/api")
    assert status == 200, body[:300]
    assert "version" in json.loads(body)
    assert "cloudfront" in headers.get("Via", "").lower() or "X-Amz-Cf-Id" in headers
    assert headers.get("Strict-Transport-Security") == "max-age=31536000"
    # Nothing is cached (CachingDisabled): CloudFront went to the hub for it.
    assert not headers.get("X-Cache", "").lower().startswith("hit")
    # hubctl status gives the same address.
    assert hubctl("status")["hub_url"] == url


def test_plain_http_is_redirected_to_https(outputs: dict[str, str]) -> None:
    host = urllib.parse.urlsplit(outputs["HubUrl"]).netloc
    status, headers, _ = fetch(f"http://{host}/hub/login?next=%2Fhub%2F")
    assert status == 301
    assert headers["Location"] == f"https://{host}/hub/login?next=%2Fhub%2F"


def test_the_instance_answers_nobody_but_cloudfront(config: Any, outputs: dict[str, str]) -> None:
    import boto3

    address = outputs["HubAddress"]
    cloudfront = boto3.client("cloudfront")
    origins = cloudfront.get_distribution(Id=outputs["DistributionId"])["Distribution"]["DistributionConfig"]
    (origin,) = origins["Origins"]["Items"]
    # CloudFront's origin is the Elastic IP's public DNS name: stable across stop and start.
    assert socket.gethostbyname(origin["DomainName"]) == address
    for port in (80, 443, 22):
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=5).close()


def test_a_participant_logs_in_over_https_with_secure_cookies(
    outputs: dict[str, str], participant: tuple[str, str]
) -> None:
    name, password = participant
    # Fresh sessions: each login's page and POST may be forwarded by different CloudFront servers.
    for _ in range(4):
        session = HubSession(outputs["HubUrl"])
        assert session.login(name, password), "login through CloudFront failed (XSRF? see the hub's log)"
        login = [c for c in session.cookies if c.name.startswith("jupyterhub-hub-login")]
        assert login and all(c.secure for c in login)
        assert all(c.secure for c in session.cookies if c.name == "_xsrf")


def _cookie_header(session: HubSession, path: str) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies if path.startswith(c.path))


def _xsrf_for(session: HubSession, path: str) -> str:
    """The _xsrf cookie the browser would send to ``path``: the one with the longest matching path."""
    found: list[Cookie] = [c for c in session.cookies if c.name == "_xsrf" and path.startswith(c.path)]
    assert found, f"no _xsrf cookie for {path}"
    return max(found, key=lambda c: len(c.path)).value or ""


def test_a_kernel_runs_a_cell_over_a_websocket_through_cloudfront(
    outputs: dict[str, str], participant: tuple[str, str]
) -> None:
    name, password = participant
    url = outputs["HubUrl"]
    host = urllib.parse.urlsplit(url).netloc
    session = HubSession(url)
    assert session.login(name, password)
    lab = session.start_server(timeout_s=300)  # the OAuth round trip to the server, through CloudFront
    base = f"/user/{name}/"
    assert urllib.parse.urlsplit(lab).path.startswith(base)

    request = urllib.request.Request(
        f"{url}{base}api/kernels",
        data=b"{}",
        method="POST",
        headers={"X-XSRFToken": _xsrf_for(session, base), "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(session.cookies))
    with opener.open(request, timeout=60) as reply:
        kernel = json.loads(reply.read())

    answers = asyncio.run(
        _run_cells(
            f"wss://{host}{base}api/kernels/{kernel['id']}/channels?session_id={uuid.uuid4().hex}",
            {"Cookie": _cookie_header(session, base), "Origin": f"https://{host}"},
        )
    )
    assert answers == ["42\n", "43\n"]


async def _run_cells(url: str, headers: dict[str, str]) -> list[str]:
    """Runs two cells on one WebSocket, idle for longer than CloudFront's read timeout between them."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    socket_ = await websocket_connect(HTTPRequest(url, headers=headers, request_timeout=60))
    try:
        first = await _execute(socket_, "print(6 * 7)")
        await asyncio.sleep(IDLE_WEBSOCKET_S)
        second = await _execute(socket_, "print(6 * 7 + 1)")
        return [first, second]
    finally:
        socket_.close()


async def _execute(socket_: Any, code: str) -> str:
    msg_id = uuid.uuid4().hex
    await socket_.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "e2e",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    text = ""
    while True:
        raw = await asyncio.wait_for(socket_.read_message(), timeout=60)
        assert raw is not None, "the WebSocket closed"
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            text += message["content"]["text"]
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return text

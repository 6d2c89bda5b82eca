"""What a participant's browser does on the hub, with the standard library: log in through the login
form (the first password typed becomes theirs: FirstUseAuthenticator), follow an nbgitpuller link through
the hub (user-redirect, the OAuth hop to their server) to its page, and run the pull the page's script
runs (the git-pull handler's event stream), then land where the page would send them."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from typing import Any

from hubagent.errors import ActionFailed

_DATA = re.compile(r'data-([a-z-]+)="([^"]*)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """Cookies and the XSRF token, as a browser keeps them for the hub at ``base`` (the proxy's URL)."""

    def __init__(self, base: str, timeout: float = 60, token: str = "") -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.token = token  # an API token of the participant, used where no login cookie is
        self.cookies = CookieJar()
        handler = urllib.request.HTTPCookieProcessor(self.cookies)
        self._follow = urllib.request.build_opener(handler)
        self._direct = urllib.request.build_opener(handler, _NoRedirect)

    def _xsrf(self) -> str:
        for cookie in self.cookies:
            if cookie.name == "_xsrf" and cookie.value:
                return cookie.value
        return ""

    def _request(
        self, path: str, data: bytes | None = None, accept: str = "text/html"
    ) -> urllib.request.Request:
        request = urllib.request.Request(  # noqa: S310 (the proxy's http URL, from settings)
            path if path.startswith("http") else self.base + path, data=data, method="POST" if data else "GET"
        )
        request.add_header("Accept", accept)
        if self._xsrf():
            request.add_header("X-XSRFToken", self._xsrf())
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        return request

    def get(self, path: str) -> tuple[int, str, str]:
        """(status, final URL, page) of a GET, redirects followed."""
        try:
            with self._follow.open(self._request(path), timeout=self.timeout) as reply:
                return reply.status, reply.geturl(), reply.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.geturl(), err.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as err:
            raise ActionFailed(
                f"the hub at {self.base} does not answer ({getattr(err, 'reason', err)})"
            ) from None

    def login(self, username: str, password: str) -> bool:
        """The login form, as typed: True when the hub let them in."""
        status, _, page = self.get("/hub/login")
        if status != 200:
            return False
        match = re.search(r'name="_xsrf"\s+value="([^"]+)"', page)
        form = {
            "username": username,
            "password": password,
            "_xsrf": match.group(1) if match else self._xsrf(),
        }
        request = self._request("/hub/login", urllib.parse.urlencode(form).encode())
        try:
            with self._direct.open(request, timeout=self.timeout) as reply:
                status, location = reply.status, reply.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            status, location = err.code, err.headers.get("Location", "")
        except (urllib.error.URLError, OSError) as err:
            raise ActionFailed(
                f"the hub's login page does not answer ({getattr(err, 'reason', err)})"
            ) from None
        logged_in = any(cookie.name.startswith("jupyterhub-hub-login") for cookie in self.cookies)
        return status in (301, 302, 303) and "/hub/login" not in location and logged_in

    def pull_page(self, link: str) -> tuple[str, dict[str, str]]:
        """Open an nbgitpuller link; the page's URL and its data-* parameters (what its script reads)."""
        status, url, page = self.get(link)
        path = urllib.parse.urlsplit(url).path
        if status != 200 or not path.rstrip("/").endswith("/git-pull"):
            raise ActionFailed(
                f"the nbgitpuller link did not open the git-pull page (answered {status} at {path}): "
                "is nbgitpuller installed in the user environment?"
            )
        data = {name: urllib.parse.unquote(html.unescape(value)) for name, value in _DATA.findall(page)}
        if "repo" not in data or "base-url" not in data:
            raise ActionFailed(
                "the git-pull page carries no repo or base-url: an nbgitpuller this hub does not know"
            )
        return url, data

    def pull(self, data: dict[str, str], timeout: float) -> list[str]:
        """What the page's script does: GET base-url + git-pull/api with its parameters, an event stream
        read to 'finished' (or an error, raised with the puller's message). Returns git's output lines."""
        query = {
            "_xsrf": data.get("xsrf", ""),
            "repo": data["repo"],
            "targetpath": data.get("targetpath", ""),
        }
        query |= {name: data[name] for name in ("depth", "branch", "backup") if data.get(name)}
        url = f"{data['base-url']}git-pull/api?{urllib.parse.urlencode(query)}"
        output: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            with self._follow.open(self._request(url, accept="text/event-stream"), timeout=timeout) as reply:
                for event in _events(reply):
                    phase = event.get("phase")
                    if event.get("output"):
                        output += str(event["output"]).splitlines()
                    if phase == "finished":
                        return output
                    if phase == "error":
                        raise ActionFailed(
                            f"nbgitpuller could not pull {data['repo']}: {event.get('message')}"
                        )
                    if time.monotonic() > deadline:
                        break
        except urllib.error.HTTPError as err:
            raise ActionFailed(f"the git-pull handler answered {err.code}") from None
        except (urllib.error.URLError, OSError) as err:
            raise ActionFailed(
                f"the git-pull handler stopped answering ({getattr(err, 'reason', err)})"
            ) from None
        raise ActionFailed(f"nbgitpuller did not finish pulling {data['repo']} within {timeout:.0f} s")


def _events(reply: Any) -> Iterator[dict[str, Any]]:
    """The JSON of each ``data:`` line of a server-sent event stream."""
    for raw in reply:
        line = raw.decode(errors="replace").strip()
        if not line.startswith("data:"):
            continue
        try:
            event = json.loads(line.removeprefix("data:").strip())
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event

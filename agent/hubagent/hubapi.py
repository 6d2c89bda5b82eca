"""The JupyterHub REST API, through urllib, with the service token (the only way hubagent touches the hub)."""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from hubagent.errors import ActionFailed

PAGE_SIZE = 200  # JupyterHub's largest page
PAGINATION = "application/jupyterhub-pagination+json"


def read_token(path: Path) -> str:
    """The hub service token. Running as root, a token that others could read is refused: it is admin."""
    try:
        st = path.stat()
        if os.geteuid() == 0 and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ActionFailed(
                f"the hub token file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): "
                f"run 'chmod 600 {path}' (it holds an admin token)"
            )
        token = path.read_text(encoding="ascii").strip()
    except OSError as err:
        raise ActionFailed(
            f"cannot read the hub token at {path}: {err.strerror} (it is written when the hub is "
            "installed; check that the installation finished)"
        ) from None
    if not token:
        raise ActionFailed(f"the hub token file {path} is empty")
    return token


class HubError(ActionFailed):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Hub:
    """A client of one hub's REST API (``api_url`` like http://127.0.0.1:15001/hub/api)."""

    def __init__(self, api_url: str, token: str | None, timeout: float = 60) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        accept: str = "application/json",
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> tuple[int, Any]:
        """One request; returns (status, decoded JSON or None). Statuses outside ``ok`` raise HubError."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)  # noqa: S310 (http URL from settings)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise HubError(
                f"the hub API at {self.api_url} does not answer ({reason}): is the hub running? "
                "(on the instance: systemctl status jupyterhub)"
            ) from None
        payload: Any = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")[:200]
        if status not in ok:
            message = payload.get("message") if isinstance(payload, dict) else payload
            hint = (
                " (the service token was refused: check the hub token file)" if status in (401, 403) else ""
            )
            raise HubError(f"hub API {method} {path} answered {status}: {message}{hint}", status)
        return status, payload

    def version(self) -> str:
        _, info = self.call("GET", "/")
        return str(info.get("version", "unknown")) if isinstance(info, dict) else "unknown"

    def users(self, state: str | None = None) -> list[dict[str, Any]]:
        """Every user, page by page."""
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            query = {"offset": offset, "limit": PAGE_SIZE} | ({"state": state} if state else {})
            _, page = self.call("GET", "/users?" + urllib.parse.urlencode(query), accept=PAGINATION)
            if isinstance(page, list):  # a hub without pagination answers a plain list
                return page
            items = page.get("items", [])
            found.extend(items)
            following = (page.get("_pagination") or {}).get("next")
            if not following or not items:
                return found
            offset = int(following["offset"])

    def user(self, name: str) -> dict[str, Any] | None:
        status, model = self.call("GET", "/users/" + urllib.parse.quote(name), ok=(200, 404))
        return model if status == 200 else None

    def create_users(self, names: list[str], admin: bool) -> list[str]:
        """Bulk create; returns the names created (the hub skips existing ones, 409 when all exist)."""
        status, created = self.call("POST", "/users", {"usernames": names, "admin": admin}, ok=(201, 409))
        if status == 409:
            return []
        return [str(u["name"]) for u in created]

    def set_admin(self, name: str, admin: bool) -> None:
        self.call("PATCH", "/users/" + urllib.parse.quote(name), {"admin": admin})

    def delete_user(self, name: str) -> bool:
        status, _ = self.call("DELETE", "/users/" + urllib.parse.quote(name), ok=(204, 404))
        return status == 204

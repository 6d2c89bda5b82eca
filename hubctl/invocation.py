"""One run of hubctl: what it talks to (the API, the workshop's settings) and how it shows the answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from hubctl import views
from hubctl.client import ApiClient
from hubctl.discovery import Target
from hubctl.errors import HubctlError, NotFound


class Output(StrEnum):
    text = "text"
    json = "json"


@dataclass
class Invocation:
    target: Target
    output: Output = Output.text
    _client: ApiClient | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output is Output.json

    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(self.target.api_url(), self.target.auth())
        return self._client

    def zone(self) -> dt.tzinfo:
        """The workshop's time zone (schedule.timezone) for times shown to people; UTC when unknown."""
        try:
            return views.zone(self.target.config.schedule.timezone)
        except HubctlError:
            return views.zone(None)

    def timezone(self) -> str:
        """The workshop's schedule.timezone: from workshop.yaml, or else from the deployed hub's status."""
        try:
            return self.target.config.schedule.timezone
        except NotFound:
            return str(self.client().get("/status").get("timezone") or "UTC")

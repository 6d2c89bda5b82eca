"""hubctl's unit tests against the real API handler over HTTP, its control plane a FakePlane: what each
test module's `plane` and `served` fixtures share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from handlers import api
from handlers import plane as handlers_plane

from tests.support.apigw_server import Served, serve
from tests.support.fake_plane import FakePlane

TOKEN = "sandbox-token-for-tests"


@contextmanager
def using(fake: FakePlane) -> Iterator[FakePlane]:
    """The API handler answers from ``fake`` until the block ends."""
    handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
    try:
        yield fake
    finally:
        handlers_plane.use_control_plane(None)


@contextmanager
def served_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workshop_yaml: str | None = None
) -> Iterator[Served]:
    """The API on a local port, hubctl pointed at it with the token (no polling wait), run in ``tmp_path``
    (with ``workshop_yaml`` as its workshop.yaml when given)."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    if workshop_yaml is not None:
        (tmp_path / "workshop.yaml").write_text(workshop_yaml)
    with serve(api.handler, token=TOKEN) as server:
        monkeypatch.setenv("HUBCTL_API_URL", server.url)
        monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("HUBCTL_POLL_SECONDS", "0")
        monkeypatch.chdir(tmp_path)
        yield server

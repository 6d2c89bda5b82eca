"""POST /instance/resize refuses (422) a type of another architecture than the deployed hub's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from handlers import api
from handlers import plane as handlers_plane
from workshop_hub import api_models, config

from tests.support.apigw import call
from tests.support.fake_plane import FakePlane


@pytest.fixture
def plane() -> Iterator[FakePlane]:
    fake = FakePlane()
    handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
    yield fake
    handlers_plane.use_control_plane(None)


def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_type: str) -> None:
    path = tmp_path / f"workshop-{hub_type}.json"
    path.write_text(config.parse({"hub": {"instance_type": hub_type}}).to_json())
    monkeypatch.setenv("CONFIG_PATH", str(path))


@pytest.mark.parametrize(
    ("hub_type", "asked", "message"),
    [
        ("t3.medium", "t4g.xlarge", "instance_type: 't4g.xlarge' is arm64 but the hub (t3.medium) is x86_64"),
        ("t3.medium", "a1.large", "instance_type: 'a1.large' is arm64 but the hub (t3.medium) is x86_64"),
        ("t4g.medium", "t3.xlarge", "instance_type: 't3.xlarge' is x86_64 but the hub (t4g.medium) is arm64"),
        ("t3.medium", "u-6tb1.metal", "instance_type: 'u-6tb1.metal' cannot tell its architecture"),
    ],
)
def test_a_resize_to_another_architecture_is_422(
    plane: FakePlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_type: str, asked: str, message: str
) -> None:
    deployed(tmp_path, monkeypatch, hub_type)
    reply = call(api.handler, "POST", "/instance/resize", {"instance_type": asked})
    assert reply.status == 422, reply.body
    assert reply.error.startswith(message), reply.error
    assert plane.ops == {}


@pytest.mark.parametrize(("hub_type", "asked"), [("t3.medium", "m7i.2xlarge"), ("t4g.medium", "m7g.xlarge")])
def test_a_resize_within_the_architecture_is_accepted(
    plane: FakePlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_type: str, asked: str
) -> None:
    deployed(tmp_path, monkeypatch, hub_type)
    reply = call(api.handler, "POST", "/instance/resize", {"instance_type": asked})
    assert reply.status == 202, reply.body


def test_without_a_deployed_config_the_default_hub_type_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIG_PATH", "/nonexistent/workshop.json")
    assert api_models.deployed_hub_instance_type() == "t3.medium"

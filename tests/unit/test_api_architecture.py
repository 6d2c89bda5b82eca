"""POST /instance/resize refuses (422) a type of another architecture than the deployed hub's."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from handlers import api
from handlers import plane as handlers_plane

from tests.support.apigw import call
from tests.support.fake_plane import FakePlane


@pytest.fixture
def deployed() -> Iterator[Callable[[str | None], FakePlane]]:
    """A control plane whose deployed workshop.json says ``hub.instance_type`` (None: the default)."""

    def deploy(hub_type: str | None) -> FakePlane:
        fake = FakePlane(hub_instance_type=hub_type)
        handlers_plane.use_control_plane(fake)  # type: ignore[arg-type]
        return fake

    yield deploy
    handlers_plane.use_control_plane(None)


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
    deployed: Callable[[str | None], FakePlane], hub_type: str, asked: str, message: str
) -> None:
    plane = deployed(hub_type)
    reply = call(api.handler, "POST", "/instance/resize", {"instance_type": asked})
    assert reply.status == 422, reply.body
    assert reply.error.startswith(message), reply.error
    assert plane.ops == {}


@pytest.mark.parametrize(("hub_type", "asked"), [("t3.medium", "m7i.2xlarge"), ("t4g.medium", "m7g.xlarge")])
def test_a_resize_within_the_architecture_is_accepted(
    deployed: Callable[[str | None], FakePlane], hub_type: str, asked: str
) -> None:
    deployed(hub_type)
    reply = call(api.handler, "POST", "/instance/resize", {"instance_type": asked})
    assert reply.status == 202, reply.body


def test_without_a_deployed_type_the_default_hub_type_counts(
    deployed: Callable[[str | None], FakePlane],
) -> None:
    assert deployed(None).hub_instance_type == "t3.medium"
    reply = call(api.handler, "POST", "/instance/resize", {"instance_type": "t4g.xlarge"})
    assert reply.status == 422 and "the hub (t3.medium) is x86_64" in reply.error

"""grow on the in-memory twins."""

from __future__ import annotations

import pytest
from workshop_hub.errors import InvalidRequest, VolumeChangeRefused

from tests.support.twin_world import twin_world


def test_grow_snapshots_modifies_and_grows_the_filesystem() -> None:
    with twin_world() as world:
        op = world.submit("grow", {"size_gib": 40})
        assert op.state == "succeeded", op.error
        assert world.machine.size_gib == 40 and world.hub.disk_gib == 40
        [(description, tags)] = world.machine.snapshots
        assert "before growing 30 -> 40 GiB" in description and tags["workshop-hub:reason"] == "pre-grow"
        assert world.stores.desired.get().volume_gib == 40
        assert [c["target_size_gib"] for c in world.stores.desired.volume_changes()] == [40]


def test_only_larger_and_nothing_is_recorded() -> None:
    with twin_world() as world:
        with pytest.raises(InvalidRequest, match="must be larger than the volume's current 30 GiB"):
            world.submit("grow", {"size_gib": 30})
        assert world.stores.desired.get().volume_gib is None and world.machine.snapshots == []


def test_a_change_still_optimizing_is_refused_before_a_snapshot() -> None:
    with twin_world() as world:
        world.machine.held = "optimizing"
        assert world.submit("grow", {"size_gib": 40}).state == "succeeded"
        with pytest.raises(VolumeChangeRefused):
            world.submit("grow", {"size_gib": 50})
        assert len(world.machine.snapshots) == 1


def test_grow_while_stopped_leaves_the_filesystem_to_the_reconcile() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        op = world.submit("grow", {"size_gib": 40})
        assert op.state == "succeeded" and op.result.get("deferred") is True
        assert world.stores.desired.get().pending == {"filesystem"} and world.hub.disk_gib == 30

"""data-sync, data-remove, packages and packages-remove on the in-memory twins."""

from __future__ import annotations

import pytest
from workshop_hub.errors import InvalidRequest, Missing

from tests.support.twin_world import twin_world


def test_a_configured_data_repo_is_synced_by_its_name() -> None:
    with twin_world() as world:
        op = world.submit("data-sync", {"name": "workshopdata"})
        assert op.state == "succeeded", op.error
        assert op.params == {
            "name": "workshopdata",
            "repo": "https://github.com/jupyterhub/nbgitpuller",
            "ref": "main",
        }
        assert world.hub.data["workshopdata"] == ("https://github.com/jupyterhub/nbgitpuller", "main")


def test_a_new_data_repo_is_recorded_then_synced_or_left_to_the_reconcile() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        op = world.submit("data-sync", {"name": "extra", "repo": "https://github.com/a/b", "ref": "v1"})
        assert op.state == "succeeded" and op.result.get("deferred") is True
        assert world.stores.desired.get().data_repos["extra"] == {
            "repo": "https://github.com/a/b",
            "ref": "v1",
        }
        assert world.stores.desired.get().pending == {"data:extra"}


def test_an_unknown_data_repo_needs_its_url() -> None:
    with (
        twin_world() as world,
        pytest.raises(InvalidRequest, match="repo: is required for a data repo that is not configured yet"),
    ):
        world.submit("data-sync", {"name": "nowhere"})


def test_a_package_that_cannot_install_fails_alone_and_is_remembered() -> None:
    with twin_world() as world:
        world.hub.missing.add("definitely-not-a-real-pkg")
        op = world.submit("packages", {"packages": ["geopandas==1.0.1", "definitely-not-a-real-pkg"]})
        assert op.state == "failed" and "1 of 2 package(s) could not be installed" in (op.error or "")
        assert world.hub.packages["pip"] == {"geopandas==1.0.1"}
        desired = world.stores.desired.get()
        assert [f["spec"] for f in desired.failed_packages] == ["definitely-not-a-real-pkg"]
        assert world.submit("packages-remove", {"spec": "definitely-not-a-real-pkg"}).state == "succeeded"
        assert world.stores.desired.get().failed_packages == []


def test_forgetting_a_package_never_asked_for_is_missing() -> None:
    refused = pytest.raises(Missing, match="spec: 'numpy' is not a pip package asked for through the API")
    with twin_world() as world, refused:
        world.submit("packages-remove", {"spec": "numpy"})


def test_a_data_repo_removed_is_gone_from_the_hub_and_never_synced_again() -> None:
    with twin_world() as world:
        world.submit("data-sync", {"name": "workshopdata"})
        assert "workshopdata" in world.hub.data
        op = world.submit("data-remove", {"name": "workshopdata"})  # workshop.yaml's own repo
        assert op.state == "succeeded", op.error
        assert "workshopdata" not in world.hub.data
        assert world.stores.desired.get().removed_data == {"workshopdata"}
        world.hub.calls.clear()
        assert world.submit("reconcile", {}).state == "succeeded"
        syncs = [p for a, p in world.hub.calls if a == "data-sync"]
        assert syncs == []  # not synced again by any reconcile
        assert ("data-remove", {"Name": "workshopdata"}) in world.hub.calls  # made sure it is gone
        with pytest.raises(InvalidRequest, match="repo: is required"):
            world.submit("data-sync", {"name": "workshopdata"})  # by name alone: it is not known any more
        back = world.submit(
            "data-sync", {"name": "workshopdata", "repo": "https://github.com/jupyterhub/nbgitpuller"}
        )
        assert back.state == "succeeded" and "workshopdata" in world.hub.data
        assert world.stores.desired.get().removed_data == set()


def test_a_data_repo_removed_while_the_hub_is_stopped_is_removed_by_the_next_reconcile() -> None:
    with twin_world() as world:
        world.submit("data-sync", {"name": "workshopdata"})
        world.machine.state = "stopped"
        op = world.submit("data-remove", {"name": "workshopdata"})
        assert op.state == "succeeded" and op.result.get("deferred") is True
        assert world.stores.desired.get().pending == {"data-remove:workshopdata"}
        world.machine.state = "running"
        assert world.submit("reconcile", {}).state == "succeeded"
        assert "workshopdata" not in world.hub.data and world.stores.desired.get().pending == set()


def test_removing_a_data_repo_that_is_not_there_is_missing_and_records_nothing() -> None:
    with twin_world() as world, pytest.raises(Missing, match="name: 'nowhere' is not a data repo"):
        world.submit("data-remove", {"name": "nowhere"})
    assert world.stores.operations.recent() == [] and world.stores.desired.get().removed_data == set()

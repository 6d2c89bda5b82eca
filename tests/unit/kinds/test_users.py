"""users-add, users-remove and the roster sync on the in-memory twins."""

from __future__ import annotations

import pytest
from workshop_hub.errors import Missing

from tests.support.twin_world import twin_world


def test_added_users_are_created_by_the_roster_sync_they_are_answered_with() -> None:
    with twin_world() as world:
        op = world.submit("users-add", {"usernames": ["ada", "grace"], "sources": {"ada": "Ada Lovelace"}})
        assert op.kind == "roster-sync" and op.state == "succeeded", op.error
        assert world.hub.users == {"ada": False, "grace": False}
        roster = {e.username: e for e in world.stores.roster.entries()}
        assert roster["ada"].on_hub and roster["ada"].source == "Ada Lovelace"
        assert world.stores.roster.sync_state() == (None, 1)


def test_an_admin_is_created_as_one() -> None:
    with twin_world() as world:
        world.submit("users-add", {"usernames": ["ada"], "admin": True})
        assert world.hub.users == {"ada": True}


def test_users_added_while_the_hub_is_stopped_wait_for_the_reconcile() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        op = world.submit("users-add", {"usernames": ["ada"]})
        assert op.state == "succeeded" and op.result.get("deferred") is True
        assert world.stores.desired.get().pending == {"users"} and world.hub.users == {}
        world.machine.state = "running"
        assert world.submit("reconcile", {}).state == "succeeded"
        assert world.hub.users == {"ada": False} and world.stores.desired.get().pending == set()


def test_a_removed_user_leaves_the_hub_and_the_roster() -> None:
    with twin_world() as world:
        world.submit("users-add", {"usernames": ["ada", "grace"]})
        op = world.submit("users-remove", {"username": "ada"})
        assert op.state == "succeeded", op.error
        assert world.hub.users == {"grace": False}
        assert [e.username for e in world.stores.roster.entries(include_removing=True)] == ["grace"]


def test_removing_a_name_not_on_the_roster_is_missing_and_records_nothing() -> None:
    with twin_world() as world:
        with pytest.raises(Missing, match="username: 'frank' is not on the roster"):
            world.submit("users-remove", {"username": "frank"})
        assert world.stores.operations.recent() == [] and world.stores.roster.sync_state() == (None, 0)


def test_a_user_already_on_the_hub_is_marked_on_hub_by_the_sync() -> None:
    """Added to the roster while already on the hub (made by hand, or before a roster was kept): the sync
    creates nobody, and still records that the user is there, so initial passwords for them do not wait."""
    with twin_world() as world:
        world.hub.users["ada"] = False
        op = world.submit("users-add", {"usernames": ["ada"]})
        assert op.state == "succeeded", op.error
        assert op.result["created"] == []
        [entry] = world.stores.roster.entries()
        assert entry.on_hub is True
        hashed = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"
        passwords = world.submit(
            "users-set-passwords", {"credentials": [{"username": "ada", "hash": hashed}]}
        )
        assert passwords.state == "succeeded", passwords.error
        assert world.hub.passwords == {"ada": hashed}

"""users-set-passwords on the in-memory twins: the hashes reach the hub and nothing keeps them."""

from __future__ import annotations

import json

import pytest
from workshop_hub.errors import Missing

from tests.support.twin_world import twin_world
from tests.support.twins import MemoryPasswordHashes

HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


def test_the_hashes_are_set_on_the_hub_and_kept_nowhere() -> None:
    with twin_world() as world:
        world.submit("users-add", {"usernames": ["ada"]})
        op = world.submit("users-set-passwords", {"credentials": [{"username": "ada", "hash": HASH}]})
        assert op.state == "succeeded", op.error
        assert op.params == {"usernames": ["ada"], "reset": False} and op.result["set"] == ["ada"]
        assert world.hub.passwords == {"ada": HASH}
        assert HASH not in json.dumps(op.to_dict()) and world.stores.passwords.get(op.id) is None
        assert world.steps(op)[-1] == "forget the password hashes"


def test_a_hub_that_is_not_running_is_refused_and_the_hashes_go() -> None:
    with twin_world() as world:
        world.submit("users-add", {"usernames": ["ada"]})
        world.machine.state = "stopped"
        op = world.submit("users-set-passwords", {"credentials": [{"username": "ada", "hash": HASH}]})
        assert op.state == "failed" and "the hub is stopped" in (op.error or "")
        assert world.hub.passwords == {} and world.stores.passwords.get(op.id) is None


def test_a_name_not_on_the_roster_is_missing_before_anything_is_kept() -> None:
    with twin_world() as world:
        credentials = [{"username": "mallory", "hash": HASH}]
        with pytest.raises(Missing, match=r"credentials\[0\]\.username: 'mallory' is not on the roster"):
            world.submit("users-set-passwords", {"credentials": credentials})
        assert world.stores.operations.recent() == []
        assert isinstance(world.stores.passwords, MemoryPasswordHashes) and world.stores.passwords.kept == {}

"""Reading hubagent's compact results: every page of users-list, and the activity count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from workshop_hub.ports import AgentFailed, active_count, hub_users


class Pages:
    """users-list answered from a fixed list, ``size`` names a page, as hubagent pages them."""

    def __init__(self, users: dict[str, bool], size: int, stuck: bool = False) -> None:
        self.users = dict(sorted(users.items()))
        self.size = size
        self.stuck = stuck
        self.asked: list[str] = []

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        assert action == "users-list"
        after = params["After"]
        self.asked.append(after)
        rest = [n for n in self.users if n > after] if after and not self.stuck else list(self.users)
        page = rest[: self.size]
        more = len(rest) > len(page)
        return {
            "ok": True,
            "count": len(self.users),
            "names": page,
            "admins": [n for n in page if self.users[n]],
            "next": page[-1] if more else None,
        }


def test_every_page_is_read() -> None:
    users = {f"u{i:03d}": i % 7 == 0 for i in range(25)}
    pages = Pages(users, size=10)
    assert hub_users(lambda after: pages.run("users-list", {"After": after})) == users
    assert pages.asked == ["", "u009", "u019"]


def test_a_listing_that_does_not_advance_is_an_error() -> None:
    with pytest.raises(AgentFailed, match="did not move past"):
        stuck = Pages({f"u{i}": False for i in range(5)}, size=2, stuck=True)
        hub_users(lambda after: stuck.run("users-list", {"After": after}))


@pytest.mark.parametrize(
    ("result", "count"),
    [
        ({"active_count": 40, "active_users": ["a", "b"], "active_users_complete": False}, 40),
        ({"active_count": 0, "active_users": []}, 0),
        ({"active_users": ["a", "b"]}, 2),  # an agent from before the compact results
        ({}, 0),
    ],
)
def test_active_count(result: dict[str, Any], count: int) -> None:
    assert active_count(result) == count

"""users add/remove/list and activity against a real JupyterHub (FirstUseAuthenticator, create_users off)."""

from __future__ import annotations

import pytest

from tests.agent.conftest import Agent
from tests.support.localhub import LocalHub

pytestmark = pytest.mark.hub


def test_created_users_can_log_in_with_a_first_password(hub_agent: Agent, hub: LocalHub) -> None:
    # one argument may hold several names separated by single spaces, as the SSM document passes them
    ran = hub_agent.run("users", "add", "--", "login-a login-b")
    assert ran.code == 0
    assert ran.result["action"] == "users-add"
    assert ran.result["changed"] is True
    assert ran.result["created"] == ["login-a", "login-b"]
    assert ran.result["existing"] == []
    assert ran.result["admin"] is False

    assert hub.login("login-a", "first-password") is True
    assert hub.login("login-a", "another-password") is False  # the first password became hers
    assert hub.login("login-a", "first-password") is True
    assert hub.login("login-never-created", "first-password") is False


def test_adding_existing_users_is_unchanged(hub_agent: Agent) -> None:
    first = hub_agent.run("users", "add", "same-a", "same-b")
    assert first.result["created"] == ["same-a", "same-b"]

    again = hub_agent.run("users", "add", "same-a", "same-b")
    assert again.code == 0
    assert again.result["changed"] is False
    assert again.result["created"] == []
    assert again.result["existing"] == ["same-a", "same-b"]

    mixed = hub_agent.run("users", "add", "same-a", "same-c")
    assert mixed.result["changed"] is True
    assert mixed.result["created"] == ["same-c"]
    assert mixed.result["existing"] == ["same-a"]


def test_admin_flag_is_set_for_new_and_existing_users(hub_agent: Agent, hub: LocalHub) -> None:
    hub_agent.run("users", "add", "plain-user")
    ran = hub_agent.run("users", "add", "--admin", "new-admin", "plain-user")
    assert ran.result["changed"] is True
    assert ran.result["created"] == ["new-admin"]
    assert ran.result["promoted"] == ["plain-user"]
    for name in ("new-admin", "plain-user"):
        assert hub.api("GET", f"/users/{name}")[1]["admin"] is True

    again = hub_agent.run("users", "add", "--admin", "new-admin", "plain-user")
    assert again.result["changed"] is False
    assert again.result["promoted"] == []

    listed = hub_agent.run("users", "list").result
    assert {"new-admin", "plain-user"} <= set(listed["admins"]) <= set(listed["names"])


def test_250_users_are_listed_across_pages(hub_agent: Agent, hub: LocalHub) -> None:
    names = [f"page-{i:03d}" for i in range(250)]
    for chunk in (names[:200], names[200:]):  # the agent takes at most 200 names per request
        assert hub_agent.run("users", "add", " ".join(chunk)).result["created"] == chunk

    ran = hub_agent.run("users", "list")
    assert ran.code == 0
    assert ran.result["changed"] is False
    assert set(ran.result) == {"ok", "action", "changed", "count", "names", "admins", "next"}
    assert [n for n in ran.result["names"] if n.startswith("page-")] == names  # sorted
    assert ran.result["next"] is None
    assert len(ran.result["names"]) == ran.result["count"] == len(hub.user_names()) > 200

    rest = hub_agent.run("users", "list", "--after", "page-199").result
    assert [n for n in rest["names"] if n.startswith("page-")] == names[200:]
    assert hub_agent.run("users", "list", "--after", "Bad Name").code == 2


def test_more_than_200_names_in_one_request_are_refused(hub_agent: Agent, hub: LocalHub) -> None:
    before = set(hub.user_names())
    ran = hub_agent.run("users", "add", " ".join(f"many-{i}" for i in range(201)))
    assert ran.code == 2
    assert "split them" in ran.result["error"]
    assert set(hub.user_names()) == before


def test_remove(hub_agent: Agent, hub: LocalHub) -> None:
    hub_agent.run("users", "add", "leaving")
    assert hub.login("leaving", "first-password")

    ran = hub_agent.run("users", "remove", "leaving")
    assert ran.result == {
        "ok": True,
        "action": "users-remove",
        "changed": True,
        "removed": True,
        "name": "leaving",
    }
    assert hub.api("GET", "/users/leaving")[0] == 404
    assert hub.login("leaving", "first-password") is False

    again = hub_agent.run("users", "remove", "leaving")
    assert again.code == 0
    assert again.result["changed"] is False
    assert again.result["removed"] is False


def test_activity_reports_running_servers(hub_agent: Agent, hub: LocalHub) -> None:
    hub_agent.run("users", "add", "busy-user", "idle-user")
    hub.start_server("busy-user")

    ran = hub_agent.run("activity", "--minutes", "5")
    assert ran.code == 0
    assert ran.result["minutes"] == 5
    assert "busy-user" in ran.result["active_users"]
    assert "idle-user" not in ran.result["active_users"]
    assert ran.result["active_count"] == len(ran.result["active_users"]) >= 1
    assert ran.result["active_users_complete"] is True
    assert ran.result["running_count"] >= 1 and ran.result["user_count"] >= 2
    assert ran.result["last_activity"]

    assert "busy-user" in hub_agent.run("activity", "--minutes", "0").result["active_users"]
    hub.stop_server("busy-user")


def test_activity_minutes_must_be_a_number(hub_agent: Agent) -> None:
    ran = hub_agent.run("activity", "--minutes", "5;reboot")
    assert ran.code == 2
    assert "minutes" in ran.result["error"]


def test_token_readable_by_others_is_refused(hub_agent: Agent, hub: LocalHub, tmp_path) -> None:
    loose = tmp_path / "token"
    loose.write_text(hub.token)
    loose.chmod(0o644)
    ran = hub_agent.run("users", "list", HUBAGENT_TOKEN_FILE=str(loose))
    assert ran.code == 1
    assert "chmod 600" in ran.result["error"]


def test_wrong_token_and_missing_token(hub_agent: Agent, tmp_path) -> None:
    wrong = tmp_path / "token"
    wrong.write_text("not-the-token")
    wrong.chmod(0o600)
    ran = hub_agent.run("users", "list", HUBAGENT_TOKEN_FILE=str(wrong))
    assert ran.code == 1
    assert "403" in ran.result["error"] and "token" in ran.result["error"]

    missing = hub_agent.run("users", "list", HUBAGENT_TOKEN_FILE=str(tmp_path / "absent"))
    assert missing.code == 1
    assert "cannot read the hub token" in missing.result["error"]


def test_hub_down_is_a_clear_failure(agent: Agent, hub: LocalHub) -> None:
    ran = agent.run("users", "list", HUBAGENT_TOKEN_FILE=str(hub.token_file))
    assert ran.code == 1
    assert "does not answer" in ran.result["error"]


def test_health(hub_agent: Agent, hub: LocalHub, open_dir) -> None:
    ran = hub_agent.run("health")
    assert ran.code == 0
    assert ran.result["hub_ok"] is True
    assert ran.result["hub_version"] == hub.api("GET", "/")[1]["version"]
    assert ran.result["installed"] is False
    assert ran.result["tljh_version"] is None  # no TLJH under the prefix
    assert ran.result["disk_free_bytes"] > 0
    assert ran.result["memory_available_bytes"] > 0
    memory, disk = ran.result["memory"], ran.result["disk"]
    assert memory["used_bytes"] + memory["available_bytes"] == memory["total_bytes"]
    assert 0 < memory["used_percent"] < 100
    assert memory["used_percent"] == round(100 * memory["used_bytes"] / memory["total_bytes"], 1)
    assert (
        disk["used_bytes"] + disk["free_bytes"] == disk["total_bytes"]
        or disk["total_bytes"] > disk["free_bytes"]
    )
    assert 0 < disk["used_percent"] < 100 and disk["free_bytes"] == ran.result["disk_free_bytes"]

    # what a TLJH install leaves: the hub venv's package metadata, and our readiness marker
    site = open_dir / "tljh" / "hub" / "lib" / "python3.12" / "site-packages"
    (site / "the_littlest_jupyterhub-2.0.0.dist-info").mkdir(parents=True)
    (open_dir / "ready").write_text("")
    ran = hub_agent.run("health")
    assert ran.result["tljh_version"] == "2.0.0"
    assert ran.result["installed"] is True


def test_health_with_the_hub_down_still_reports(agent: Agent) -> None:
    ran = agent.run("health")
    assert ran.code == 0  # health was measured; the finding is hub_ok
    assert ran.result["hub_ok"] is False
    assert "does not answer" in ran.result["hub_error"]


def test_health_in_the_sandbox_reports_its_own_disk_not_this_machines(agent: Agent, open_dir) -> None:
    """HUBAGENT_SANDBOX_DISK: the pretend volume's size, and the bytes under the sandbox's root as its use."""
    root = open_dir / "sandbox-root"
    (root / "homes" / "jupyter-ada").mkdir(parents=True)
    (root / "homes" / "jupyter-ada" / "results.bin").write_bytes(b"x" * 3 * 1024 * 1024)
    disk_file = open_dir / "disk.json"
    disk_file.write_text('{"disk_gib": 40, "partition_gib": 30}')
    ran = agent.run("health", HUBAGENT_SANDBOX_DISK=str(disk_file), HUBAGENT_ROOT_MOUNT=str(root))
    disk = ran.result["disk"]
    assert disk["total_bytes"] == 30 * 1024**3  # the partition, until disk-grow grows it to the volume
    assert 3 * 1024 * 1024 <= disk["used_bytes"] < 4 * 1024 * 1024
    assert disk["free_bytes"] == ran.result["disk_free_bytes"] == disk["total_bytes"] - disk["used_bytes"]
    assert disk["mount"] == str(root)

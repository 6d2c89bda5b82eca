"""An operation's result, as hubctl prints it for people."""

from hubctl.output import result_lines


def test_hubagent_bookkeeping_and_empty_fields_are_left_out_lists_are_joined() -> None:
    result = {"ok": True, "action": "users-add", "changed": True, "created": ["ada", "grace"], "existing": []}
    assert result_lines(result) == [("created", "ada, grace")]


def test_a_nested_agent_result_is_flattened_and_structures_stay_json() -> None:
    result = {
        "to": "t3.large",
        "agent": {"ok": False, "action": "health", "hub_ok": False},
        "skipped_homes": [{"home": "/home/jupyter-ada", "reason": "a file of that name"}],
    }
    assert result_lines(result) == [
        ("to", "t3.large"),
        ("agent.hub_ok", "False"),
        ("skipped_homes", '[{"home": "/home/jupyter-ada", "reason": "a file of that name"}]'),
    ]


def test_failed_packages_are_one_line_each_with_why() -> None:
    result = {
        "ok": True,
        "action": "packages-install",
        "installed": {"geopandas": "1.0.1"},
        "failed": [
            {"spec": "definitely-not-a-real-pkg", "error": "pip install of definitely-not-a-real-pkg failed"}
        ],
    }
    assert result_lines(result) == [
        ("installed", '{"geopandas": "1.0.1"}'),
        ("failed definitely-not-a-real-pkg", "pip install of definitely-not-a-real-pkg failed"),
    ]

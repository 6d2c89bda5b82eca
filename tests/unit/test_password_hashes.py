"""The bcrypt hash rule (API, the SSM document, hubagent share it) and the parameters of
users-set-passwords: the hashes are checked, never shown in an error, and never part of what the
operation records."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import bcrypt
import pytest
from hubagent import documents, rules
from workshop_hub.errors import InvalidRequest
from workshop_hub.kinds.params import Context
from workshop_hub.kinds.registry import named

SALT_AND_HASH = "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"  # 22 + 31
REAL = bcrypt.hashpw(b"Adapassw0rd12", bcrypt.gensalt(rounds=4)).decode()


def parse_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as ControlPlane.submit checks them, before the hashes are kept apart."""
    return named(kind).parse(params, Context(now=dt.datetime.now(dt.UTC), hub_instance_type="t3.medium"))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (REAL, True),
        (bcrypt.hashpw(b"x", bcrypt.gensalt()).decode(), True),  # FirstUse's own: cost 12
        ("$2b$04$" + SALT_AND_HASH, True),
        ("$2a$10$" + SALT_AND_HASH, True),
        ("$2y$31$" + SALT_AND_HASH, True),
        ("$2b$19$" + SALT_AND_HASH, True),
        ("$2b$03$" + SALT_AND_HASH, False),  # cost below 04
        ("$2b$32$" + SALT_AND_HASH, False),  # above 31
        ("$2b$4$" + SALT_AND_HASH, False),  # two digits
        ("$2x$10$" + SALT_AND_HASH, False),  # the buggy 2x variant
        ("$2$10$" + SALT_AND_HASH, False),
        ("$1$10$" + SALT_AND_HASH, False),
        ("$2b$10$" + SALT_AND_HASH[:-1], False),  # 52 characters
        ("$2b$10$" + SALT_AND_HASH + "x", False),  # 54
        ("$2b$10$" + SALT_AND_HASH[:-1] + "+", False),  # standard base64, not bcrypt's
        ("$2b$10$" + SALT_AND_HASH[:-1] + "=", False),
        ("$2b$10$" + SALT_AND_HASH[:-1] + " ", False),
        ("$2b$10$" + SALT_AND_HASH[:-1] + "\n", False),
        (" $2b$10$" + SALT_AND_HASH[1:], False),
        ("$2b$10$" + SALT_AND_HASH[:-1] + "é", False),
        ("Adapassw0rd12", False),  # a password is not a hash
        ("", False),
        ("$2b$10$" + "a" * 50 + "$(x)", False),
    ],
)
def test_the_bcrypt_hash_rule(value: str, ok: bool) -> None:
    assert bool(re.fullmatch(rules.BCRYPT_HASH.pattern, value)) is ok
    if ok:
        assert rules.check_bcrypt_hash(value) == value
    else:
        with pytest.raises(rules.RuleError):
            rules.check_bcrypt_hash(value)


def test_the_credential_list_is_what_ssm_checks() -> None:
    pattern = re.compile(documents.CREDENTIAL_LIST.pattern)
    fifty = " ".join(f"user{i}:$2b$12${SALT_AND_HASH}" for i in range(50))
    assert pattern.fullmatch(fifty) and len(fifty) <= documents.CREDENTIAL_LIST.max_chars
    assert not pattern.fullmatch(fifty + f" user50:$2b$12${SALT_AND_HASH}")
    assert not pattern.fullmatch(f"Ada:$2b$12${SALT_AND_HASH}")
    assert not pattern.fullmatch("ada:Adapassw0rd12")
    assert not pattern.fullmatch(f"ada:$2b$12${SALT_AND_HASH}  bob:$2b$12${SALT_AND_HASH}")


def test_parse_params_keeps_the_hashes_apart_from_what_is_recorded() -> None:
    params = {"credentials": [{"username": "ada", "hash": REAL}, {"username": "bob", "hash": REAL}]}
    parsed = parse_params("users-set-passwords", params)
    assert parsed == {"usernames": ["ada", "bob"], "reset": False, "hashes": {"ada": REAL, "bob": REAL}}
    assert parse_params("users-set-passwords", {**params, "reset": True})["reset"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "credentials: is required"),
        ({"credentials": []}, "credentials: must be a non-empty list"),
        ({"credentials": "ada:" + REAL}, "credentials: must be a non-empty list"),
        ({"credentials": [{"username": "ada", "hash": REAL}] * 51}, "at most 50 entries"),
        ({"credentials": ["ada:" + REAL]}, 'credentials[0]: must be {"username": NAME, "hash": BCRYPT_HASH}'),
        ({"credentials": [{"username": "ada"}]}, "credentials[0]: must be"),
        (
            {"credentials": [{"username": "Ada", "hash": REAL}]},
            "credentials[0].username: 'Ada' is not a valid",
        ),
        (
            {"credentials": [{"username": "ada", "hash": "Adapassw0rd12"}]},
            "credentials[0].hash: is not a bcrypt",
        ),
        ({"credentials": [{"username": "ada", "hash": REAL}] * 2}, "credentials[1].username: 'ada' is given"),
        ({"credentials": [{"username": "ada", "hash": REAL}], "reset": "yes"}, "reset: 'yes' must be true"),
        ({"credentials": [{"username": "ada", "hash": REAL}], "hashes": {}}, "hashes: is not a known field"),
    ],
)
def test_bad_credentials_name_the_field_and_never_show_a_hash(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_params("users-set-passwords", params)
    assert message in str(raised.value)
    assert "Adapassw0rd12" not in str(raised.value) and REAL not in str(raised.value)

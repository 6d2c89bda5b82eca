"""Operations: what an instructor (or a schedule) asked for, its parameters, and the recorded steps.

``parse_params`` is the only gate between a request and the control plane: it checks every value
with hubagent's rules and returns the normalized parameters, or raises InvalidRequest naming the
field and the rule. Nothing is recorded before it passes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from hubagent import rules

from workshop_hub.config import MAX_VOLUME_GIB
from workshop_hub.errors import InvalidRequest

# Kinds an instructor can ask for (API, hubctl).
REQUESTED_KINDS = (
    "start",
    "stop",
    "resize",
    "keep-awake",
    "grow",
    "data-sync",
    "packages",
    "users-add",
    "users-remove",
    "users-set-passwords",
    "packages-remove",
    "reconcile",
)
# Kinds only the schedules start.
SCHEDULED_KINDS = ("night-stop", "postponed-stop", "morning-start", "session-prepare", "session-end")
# Kinds the control plane starts itself.
INTERNAL_KINDS = ("roster-sync",)
KINDS = REQUESTED_KINDS + SCHEDULED_KINDS + INTERNAL_KINDS


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def new_operation_id(now: dt.datetime) -> str:
    # Sorts by creation time, so the store lists the latest operations with one query.
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"op-{stamp}-{secrets.token_hex(3)}"


@dataclass
class Step:
    name: str
    state: str  # running | succeeded | failed
    started_at: str
    ended_at: str | None = None
    detail: str = ""


@dataclass
class Operation:
    id: str
    kind: str
    params: dict[str, Any]
    created_at: str
    state: str = "queued"  # queued (accepted, waiting for its turn), running, succeeded, failed
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    idempotency_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        steps = [Step(**step) for step in data.get("steps", [])]
        return cls(**{**data, "steps": steps})

    @property
    def duration_s(self) -> float | None:
        if not self.started_at or not self.ended_at:
            return None
        return (parse_time(self.ended_at) - parse_time(self.started_at)).total_seconds()

    def summary(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "kind", "state", "created_at", "ended_at", "error")}


# --- parameters -------------------------------------------------------------------------------


def _only(params: dict[str, Any], kind: str, allowed: tuple[str, ...]) -> None:
    for key in params:
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise InvalidRequest(key, f"is not a parameter of {kind} (parameters: {known})")


def _required(params: dict[str, Any], key: str) -> Any:
    if params.get(key) is None:
        raise InvalidRequest(key, "is required")
    return params[key]


def _flag(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise InvalidRequest(key, "must be true or false", value)
    return value


def _names(value: object, field_name: str, maximum: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(field_name, "must be a non-empty list", value)
    if len(value) > maximum:
        raise InvalidRequest(field_name, f"must have at most {maximum} entries (got {len(value)})")
    return value


def _checked(check: Any, value: object, field_name: str) -> str:
    try:
        result: str = check(value, field_name)
    except rules.RuleError as err:
        raise InvalidRequest(err.field, err.rule, err.value) from None
    return result


def parse_until(value: object, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidRequest(
            "until", "must be an ISO 8601 date and time such as 2026-12-03T23:00+01:00", value
        )
    try:
        until = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            "until", "is not an ISO 8601 date and time such as 2026-12-03T23:00+01:00", value
        ) from None
    if until.tzinfo is None:
        raise InvalidRequest("until", "must say its time zone (e.g. +01:00 or Z)", value)
    if until - now > dt.timedelta(days=90):
        raise InvalidRequest("until", "must be at most 90 days ahead", value)
    return until


def _parse_credentials(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``{"credentials": [{"username", "hash"}], "reset"}`` -> the parameters the operation records
    (``usernames``, ``reset``) and ``hashes`` (name -> bcrypt hash), which it must never record (the
    submit keeps them aside: kinds.PASSWORD_HASHES). An error never shows a hash or what was sent as one."""
    _only(params, kind, ("credentials", "reset"))
    items = _required(params, "credentials")
    if not isinstance(items, list) or not items:  # not shown: it may hold hashes or passwords
        raise InvalidRequest("credentials", "must be a non-empty list")
    items = _names(items, "credentials", rules.MAX_CREDENTIALS_PER_REQUEST)
    hashes: dict[str, str] = {}
    for index, item in enumerate(items):
        field_name = f"credentials[{index}]"
        if not isinstance(item, dict) or set(item) != {"username", "hash"}:
            raise InvalidRequest(field_name, 'must be {"username": NAME, "hash": BCRYPT_HASH}')
        name = _checked(rules.check_username, item["username"], f"{field_name}.username")
        try:
            hashed = rules.check_bcrypt_hash(item["hash"], f"{field_name}.hash")
        except rules.RuleError as err:
            raise InvalidRequest(err.field, err.rule) from None  # not shown: it may be a password
        if name in hashes:
            raise InvalidRequest(f"{field_name}.username", "is given twice", name)
        hashes[name] = hashed
    return {"usernames": list(hashes), "reset": _flag(params, "reset"), "hashes": hashes}


def parse_params(kind: str, params: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """Check ``params`` for ``kind``; return them normalized. Raises InvalidRequest."""
    now = now or utcnow()
    if kind not in KINDS:
        raise InvalidRequest("kind", f"is not an operation (one of: {', '.join(REQUESTED_KINDS)})", kind)
    if not isinstance(params, dict):
        raise InvalidRequest("body", "must be a JSON object")
    if kind in ("start", "reconcile", "morning-start", "roster-sync"):
        _only(params, kind, ("scheduled_time",))
        return {}
    if kind == "stop":
        _only(params, kind, ("force",))
        return {"force": _flag(params, "force")}
    if kind in ("resize", "session-prepare"):
        allowed = ("instance_type", "force", "everyday") if kind == "resize" else ("instance_type",)
        _only(params, kind, (*allowed, "scheduled_time"))
        out_type: dict[str, Any] = {
            "instance_type": _checked(
                rules.check_instance_type, _required(params, "instance_type"), "instance_type"
            )
        }
        if kind == "resize":  # recorded only when asked for
            out_type.update({flag: True for flag in ("force", "everyday") if _flag(params, flag)})
        return out_type
    if kind == "keep-awake":
        _only(params, kind, ("until", "off"))
        if _flag(params, "off"):
            if params.get("until") is not None:
                raise InvalidRequest("off", "cannot go with until (either a time, or off)")
            return {"off": True}
        until = parse_until(_required(params, "until"), now)
        if until <= now:
            raise InvalidRequest("until", "is in the past", params["until"])
        return {"until": iso(until)}
    if kind == "packages-remove":
        _only(params, kind, ("spec", "manager"))
        manager = params.get("manager", "pip")
        if manager not in rules.PACKAGE_RULES:
            raise InvalidRequest("manager", "must be 'pip' or 'conda'", manager)
        return {
            "manager": manager,
            "spec": _checked(
                lambda v, f: rules.check_package(manager, v, f), _required(params, "spec"), "spec"
            ),
        }
    if kind == "grow":
        _only(params, kind, ("size_gib",))
        size = _required(params, "size_gib")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_VOLUME_GIB:
            raise InvalidRequest(
                "size_gib", f"must be a whole number of GiB up to {MAX_VOLUME_GIB} (gp3 limit)", size
            )
        return {"size_gib": size}
    if kind == "data-sync":
        _only(params, kind, ("name", "repo", "ref"))
        out: dict[str, Any] = {"name": _checked(rules.check_data_name, _required(params, "name"), "name")}
        if params.get("repo") is not None:
            out["repo"] = _checked(rules.check_git_url, params["repo"], "repo")
        ref = params.get("ref")
        out["ref"] = _checked(rules.check_git_ref, ref, "ref") if ref not in (None, "") else None
        return out
    if kind == "packages":
        _only(params, kind, ("packages", "manager"))
        manager = params.get("manager", "pip")
        if manager not in rules.PACKAGE_RULES:
            raise InvalidRequest("manager", "must be 'pip' or 'conda'", manager)
        specs = _names(_required(params, "packages"), "packages", rules.MAX_PACKAGES_PER_REQUEST)
        checked = [
            _checked(lambda v, f: rules.check_package(manager, v, f), spec, f"packages[{i}]")
            for i, spec in enumerate(specs)
        ]
        return {"packages": list(dict.fromkeys(checked)), "manager": manager}
    if kind == "users-add":
        _only(params, kind, ("usernames", "admin", "sources"))
        names = _names(_required(params, "usernames"), "usernames", rules.MAX_USERS_PER_REQUEST)
        checked = [_checked(rules.check_username, name, f"usernames[{i}]") for i, name in enumerate(names)]
        out_users: dict[str, Any] = {
            "usernames": list(dict.fromkeys(checked)),
            "admin": _flag(params, "admin"),
        }
        sources = params.get("sources")
        if sources is not None:
            if not isinstance(sources, dict) or not all(
                isinstance(k, str) and k in checked and isinstance(v, str) and 0 < len(v) <= 200
                for k, v in sources.items()
            ):
                raise InvalidRequest(
                    "sources", "must map names of usernames to what they came from (1-200 characters each)"
                )
            out_users["sources"] = dict(sources)
        return out_users
    if kind == "users-set-passwords":
        return _parse_credentials(kind, params)
    if kind == "users-remove":
        _only(params, kind, ("username",))
        return {"username": _checked(rules.check_username, _required(params, "username"), "username")}
    if kind in ("night-stop",):
        _only(params, kind, ("scheduled_time",))
        return {k: str(v) for k, v in params.items()}
    if kind == "postponed-stop":
        _only(params, kind, ("deadline", "scheduled_time"))
        deadline = _required(params, "deadline")
        return {"deadline": iso(parse_until(deadline, parse_time(str(deadline))))}
    # session-end
    _only(params, kind, ("scheduled_time",))
    return {}

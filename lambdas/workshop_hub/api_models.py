"""Request and response bodies of the instructor's HTTP API.

Every string that can reach the instance is checked here with hubagent's rules (the single source of
them), so a bad request is refused with the field and the rule before anything is recorded. A rule
failure is raised as ``RuleError`` so the API can print it as ``usernames[2]: 'Bad Name' is not ...``.
Extra fields are refused: a misspelt ``"forse": true`` must not silently mean ``force: false``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from hubagent import rules
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from workshop_hub import ec2_rules, operations
from workshop_hub.config import MAX_VOLUME_GIB, WorkshopConfig, from_json


def _checked(rule: rules.Rule) -> AfterValidator:
    def check(value: str) -> str:
        # The field name is filled in from pydantic's location when the error is shown.
        return rule.check("", value)

    return AfterValidator(check)


def _git_ref(value: str) -> str:
    return rules.check_git_ref(value, "")


Username = Annotated[str, Field(strict=True), _checked(rules.USERNAME)]
DataName = Annotated[str, Field(strict=True), _checked(rules.DATA_NAME)]
GitUrl = Annotated[str, Field(strict=True), _checked(rules.GIT_URL)]
GitRef = Annotated[str, Field(strict=True), AfterValidator(_git_ref)]
InstanceType = Annotated[str, Field(strict=True), _checked(rules.INSTANCE_TYPE)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsersAdd(_Body):
    usernames: list[Username] = Field(min_length=1, max_length=rules.MAX_USERS_PER_REQUEST)
    admin: StrictBool = False
    # name -> what the instructor gave for it (an e-mail address, a full name): kept in the roster
    sources: dict[str, Annotated[str, Field(strict=True, min_length=1, max_length=200)]] | None = None


def _bcrypt_hash(value: str) -> str:
    try:
        return rules.check_bcrypt_hash(value, "")
    except rules.RuleError as err:  # the value is not shown: it may be the password itself
        raise rules.RuleError("", None, err.rule) from None


BcryptHash = Annotated[str, Field(strict=True), AfterValidator(_bcrypt_hash)]


class Credential(_Body):
    username: Username
    hash: BcryptHash  # bcrypt.hashpw(password, bcrypt.gensalt()), made on the instructor's computer


class UsersSetPasswords(_Body):
    """Initial passwords, as bcrypt hashes: the passwords themselves never leave hubctl's computer."""

    credentials: list[Credential] = Field(min_length=1, max_length=rules.MAX_CREDENTIALS_PER_REQUEST)
    reset: StrictBool = False  # also replace passwords users chose themselves


class Stop(_Body):
    force: StrictBool = False


def deployed_hub_instance_type() -> str:
    """The deployed workshop.json's ``hub.instance_type`` (CONFIG_PATH, else the asset's file, as
    Settings reads it); the default config's when there is no file (unit tests without a deployment)."""
    from workshop_hub.settings import DEFAULT_CONFIG_PATH

    return _hub_instance_type_in(os.environ.get("CONFIG_PATH", "").strip() or str(DEFAULT_CONFIG_PATH))


@functools.lru_cache(maxsize=4)
def _hub_instance_type_in(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        return WorkshopConfig().hub.instance_type
    return from_json(file.read_text(encoding="utf-8")).hub.instance_type


def _hub_architecture(value: str) -> str:
    """A resize never crosses architectures: the hub's image is the deployed hub.instance_type's."""
    reason = ec2_rules.architecture_mismatch(value, deployed_hub_instance_type())
    if reason is not None:
        raise rules.RuleError("", value, reason)
    return value


class Resize(_Body):
    instance_type: Annotated[InstanceType, AfterValidator(_hub_architecture)]
    force: StrictBool = False  # also while participants are active
    everyday: StrictBool = False  # the new everyday size (session ends return to it), not just for now


class KeepAwake(_Body):
    until: Annotated[str, Field(strict=True, max_length=64)] | None = None
    off: StrictBool = False  # cancel keep-awake

    @model_validator(mode="after")
    def _aware_and_ahead(self) -> KeepAwake:
        if self.off:
            if self.until is not None:
                raise rules.RuleError("off", None, "cannot go with until (either a time, or off)")
            return self
        if self.until is None:
            raise rules.RuleError("until", None, 'is required (or "off": true to cancel keep-awake)')
        now = dt.datetime.now(dt.UTC)
        until = operations.parse_until(self.until, now)  # the domain's rule: an offset, at most 90 days ahead
        if until <= now:
            raise rules.RuleError("until", self.until, "is in the past")
        return self


class Grow(_Body):
    size_gib: StrictInt = Field(ge=1, le=MAX_VOLUME_GIB)


class DataSync(_Body):
    """``{"name"}``: sync that configured data repo (optionally at another ``ref``);
    ``{"name", "repo"[, "ref"]}``: add or change a data repo and sync it."""

    name: DataName
    repo: GitUrl | None = None
    ref: GitRef | None = None


class PackagesInstall(_Body):
    manager: Literal["pip", "conda"] = "pip"
    packages: list[Annotated[str, Field(strict=True)]] = Field(
        min_length=1, max_length=rules.MAX_PACKAGES_PER_REQUEST
    )

    @model_validator(mode="after")
    def _specs(self) -> PackagesInstall:
        # The rule depends on the manager, so items are checked here with their index in the field name.
        for index, spec in enumerate(self.packages):
            rules.check_package(self.manager, spec, f"packages[{index}]")
        return self


class Accepted(BaseModel):
    operation_id: str
    state: str


class Problem(BaseModel):
    error: str
    errors: list[str] = Field(default_factory=list)
    operation_id: str | None = None


def params_of(body: BaseModel) -> dict[str, Any]:
    """The parameters the domain's ``submit`` takes: the body's fields, unset optional ones left out."""
    return body.model_dump(exclude_none=True, exclude_unset=True)

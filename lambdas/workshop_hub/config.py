"""The instructor's settings (workshop.yaml): one pydantic model, checked before anything is synthesized.

A bad file fails with every broken field's path and the rule it broke, e.g.
``schedule.timezone: 'Mars/Base' is not an IANA time zone``. The same model is bundled with the
Lambda functions (as workshop.json) so the control plane reads exactly what was deployed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from hubagent import rules
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from workshop_hub import ec2_rules

Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
WEEKDAYS: tuple[Weekday, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")

# CloudFront serves only ACM certificates from this Region, wherever the hub runs.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"

# gp3 root volume limits (GiB): TLJH plus a user environment needs about 10; gp3 stops at 16 TiB.
MIN_VOLUME_GIB = 10
MAX_VOLUME_GIB = 16384


class ConfigError(ValueError):
    """workshop.yaml is unreadable or breaks a rule; the message lists every problem, one a line."""


def _rule(rule: rules.Rule) -> AfterValidator:
    def check(value: str) -> str:
        try:
            return rule.check("", value)
        except rules.RuleError as err:
            raise ValueError(err.rule) from None

    return AfterValidator(check)


def _timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("is not an IANA time zone (e.g. 'Europe/Berlin', 'America/New_York', 'UTC')")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError:
        raise ValueError("is not an IANA time zone") from None
    return value


def _clock(value: str) -> str:
    if not re.fullmatch(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", value):
        raise ValueError("is not a 24-hour time HH:MM (e.g. '22:00')")
    return value


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", value):
        raise ValueError("is not an e-mail address")
    return value


def _certificate_arn(value: str) -> str:
    match = re.fullmatch(
        r"arn:aws:acm:([a-z]{2}(?:-gov)?-[a-z]+-[0-9]):[0-9]{12}:certificate/[0-9a-f-]{36}", value
    )
    if not match:
        raise ValueError(
            "is not an ACM certificate ARN such as 'arn:aws:acm:us-east-1:123456789012:certificate/<id>'"
        )
    if match.group(1) != CLOUDFRONT_CERTIFICATE_REGION:
        raise ValueError(
            f"is in {match.group(1)}: CloudFront takes certificates from {CLOUDFRONT_CERTIFICATE_REGION} only, "
            f"whatever hub.region is (aws acm request-certificate --region {CLOUDFRONT_CERTIFICATE_REGION} ...)"
        )
    return value


def _domain(value: str) -> str:
    label = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    if not re.fullmatch(rf"{label}(?:\.{label})+", value) or len(value) > 253:
        raise ValueError("is not a lowercase DNS name such as 'hub.example.org'")
    return value


# SSM refuses document names with these prefixes (case-insensitive), and the hub's name starts every
# document name (AWSEC2, AWSConfigRemediation and AWSSupport all start with "aws").
RESERVED_NAME_PREFIXES = ("aws", "amazon", "amzn")


def _hub_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", value):
        raise ValueError(
            "is not a valid hub name: 3-32 lowercase letters, digits or '-', starting with a letter "
            "(it names the CloudFormation stacks)"
        )
    reserved = next((p for p in RESERVED_NAME_PREFIXES if value.lower().startswith(p)), None)
    if reserved is not None:
        raise ValueError(
            f"must not start with '{reserved}': AWS reserves names starting with aws, amazon or amzn "
            "(SSM refuses such document names, and the hub's name starts them)"
        )
    return value


def _region(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(?:-gov)?-[a-z]+-[0-9]", value):
        raise ValueError("is not an AWS region such as 'eu-west-1'")
    return value


def _memory_limit(value: str) -> str:
    match = re.fullmatch(r"([1-9][0-9]{0,5})([MG])", value)
    if not match or int(match.group(1)) * (1024 if match.group(2) == "G" else 1) < 256:
        raise ValueError("is not a memory size such as '1536M' or '2G' (whole M or G, at least 256M)")
    return value


def _session_type(value: str) -> str:
    if value == AUTO:
        return value
    try:
        return rules.INSTANCE_TYPE.check("", value)
    except rules.RuleError as err:
        raise ValueError(f"{err.rule} (or 'auto': the type `hubctl plan --apply` recorded)") from None


Username = Annotated[str, _rule(rules.USERNAME)]
DataName = Annotated[str, _rule(rules.DATA_NAME)]
GitUrl = Annotated[str, _rule(rules.GIT_URL)]
GitRef = Annotated[str, _rule(rules.GIT_REF)]
PipSpec = Annotated[str, _rule(rules.PIP_SPEC)]
CondaSpec = Annotated[str, _rule(rules.CONDA_SPEC)]
InstanceType = Annotated[str, _rule(rules.INSTANCE_TYPE)]
Timezone = Annotated[str, AfterValidator(_timezone)]
Clock = Annotated[str, AfterValidator(_clock)]
Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
CertificateArn = Annotated[str, AfterValidator(_certificate_arn)]
MemoryLimit = Annotated[str, AfterValidator(_memory_limit)]
# A session's type may be 'auto': the type `hubctl plan --apply` recorded under plan.instance_type.
AUTO = "auto"
SessionType = Annotated[str, AfterValidator(_session_type)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_architecture(value: str) -> str:
    try:
        ec2_rules.architecture(value)
    except ec2_rules.UnknownArchitecture as err:
        raise ValueError(str(err).split(": ", 1)[1]) from None
    return value


class HubSettings(_Model):
    name: Annotated[str, AfterValidator(_hub_name)] = "workshop-hub"
    region: Annotated[str, AfterValidator(_region)] = "eu-west-1"
    instance_type: Annotated[InstanceType, AfterValidator(_known_architecture)] = "t3.medium"
    volume_gib: int = Field(default=30, ge=MIN_VOLUME_GIB, le=MAX_VOLUME_GIB)
    admin: Username = "instructor"
    tljh_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = "2.0.0"
    vpc_id: Annotated[str | None, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")] = None
    # Per-participant memory limit (TLJH limits.memory), e.g. '1536M' or '2G'; `hubctl plan --apply` sets it.
    memory_limit: MemoryLimit | None = None


class Packages(_Model):
    pip: list[PipSpec] = Field(default_factory=list, max_length=rules.MAX_PACKAGES_PER_REQUEST)
    conda: list[CondaSpec] = Field(default_factory=list, max_length=rules.MAX_PACKAGES_PER_REQUEST)


class DataRepo(_Model):
    name: DataName
    repo: GitUrl
    ref: GitRef | None = None


class NotebooksRepo(_Model):
    repo: GitUrl
    branch: GitRef | None = None


class DailyTime(_Model):
    time: Clock
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)


class Schedule(_Model):
    timezone: Timezone = "UTC"
    night_stop: DailyTime | None = DailyTime(time="22:00")
    morning_start: DailyTime | None = None
    # The night stop postpones while a user was active in the last `active_minutes`...
    active_minutes: int = Field(default=15, ge=1, le=240)
    # ...trying again every `postpone_minutes`, until `stop_deadline` (local time, next day if earlier
    # than the stop time), when it stops whatever the activity.
    postpone_minutes: int = Field(default=30, ge=5, le=240)
    stop_deadline: Clock = "02:00"


class Session(_Model):
    date: dt.date
    start: Clock
    end: Clock
    instance_type: SessionType
    # How long before the start the hub is resized and started.
    prepare_minutes: int = Field(default=30, ge=10, le=240)
    # The walk-in sign-up door opens at the start and closes at the end (hubctl signup, README).
    signup: bool = False

    @model_validator(mode="after")
    def _ends_after_start(self) -> Session:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be later than start {self.start} on the same day")
        return self


class Https(_Model):
    """The instructor's own name for the hub, served by CloudFront with an ACM certificate."""

    domain: Domain
    certificate_arn: CertificateArn

    @model_validator(mode="before")
    @classmethod
    def _cloudfront_not_letsencrypt(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        problems = []
        if "email" in data:
            problems.append(
                "email is no longer used: CloudFront serves the domain with an ACM certificate, not Let's "
                "Encrypt; remove https.email"
            )
        if "certificate_arn" not in data:
            problems.append(
                "certificate_arn is required with a domain: an ACM certificate for it in "
                f"{CLOUDFRONT_CERTIFICATE_REGION} (see the README, 'Your own domain')"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return data


class Alerts(_Model):
    email: Email
    # The monthly AWS Budget's amount; default: plan.monthly_usd, else the schedule priced from a table.
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)


class Backups(_Model):
    # Nightly snapshots of the hub's disk (Data Lifecycle Manager), after the night stop.
    enabled: bool = True
    retain: int = Field(default=7, ge=1, le=1000)


class Plan(_Model):
    """What `hubctl plan --apply` measured and chose; sessions with ``instance_type: auto`` use it."""

    instance_type: InstanceType
    participants: int = Field(ge=1, le=10000)
    planned_at: str = Field(max_length=64)
    source: str = Field(default="", max_length=500)
    monthly_usd: float | None = Field(default=None, ge=0)


class WorkshopConfig(_Model):
    hub: HubSettings = HubSettings()
    packages: Packages = Packages()
    data_repos: list[DataRepo] = Field(default_factory=list, max_length=20)
    notebooks: NotebooksRepo | None = None
    schedule: Schedule = Schedule()
    sessions: list[Session] = Field(default_factory=list, max_length=100)
    https: Https | None = None
    alerts: Alerts | None = None
    backups: Backups = Backups()
    plan: Plan | None = None

    @model_validator(mode="after")
    def _one_architecture(self) -> WorkshopConfig:
        # The hub's image is x86_64 or arm64: every type it is resized to must run that image.
        problems = []
        for index, session in enumerate(self.sessions):
            if session.instance_type == AUTO:  # the plan's type, checked when resolved (resolve_auto)
                continue
            reason = ec2_rules.architecture_mismatch(session.instance_type, self.hub.instance_type)
            if reason is not None:
                problems.append(
                    f"sessions[{index}].instance_type: {rules.shown(session.instance_type)} {reason}"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _unique_data_names(self) -> WorkshopConfig:
        names = [repo.name for repo in self.data_repos]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"data_repos: names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1)


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(file)"


def describe(err: ValidationError) -> str:
    """One line a problem: ``path: 'value' rule``."""
    lines = []
    for problem in err.errors():
        loc = _location(tuple(p for p in problem["loc"] if not str(p).startswith("function-")))
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a known setting (check its spelling and indentation)"
        value = problem.get("input")
        shown = (
            f" {rules.shown(value)}"
            if problem["type"] not in ("missing",)
            and value is not None
            and not isinstance(value, dict | list)
            else ""
        )
        if loc == "(file)" and problem["type"] == "value_error":
            # a check across settings already names each field it refuses, one a line
            lines.extend(message.splitlines())
            continue
        lines.append(f"{loc}:{shown} {message}")
    return "\n".join(lines)


def parse(data: Any, source: str = "workshop.yaml") -> WorkshopConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must be a mapping of settings, not {type(data).__name__}")
    try:
        return WorkshopConfig.model_validate(data)
    except ValidationError as err:
        problems = describe(err)
        raise ConfigError(f"{source} has {len(problems.splitlines())} problem(s):\n{problems}") from None


def _arm64(instance_type: str) -> bool:
    """Graviton (t4g, m7gd, c7gn, a1, ...): ec2_rules.architecture, CDK's own rule."""
    return ec2_rules.architecture(instance_type) == "arm64"


def resolve_auto(config: WorkshopConfig) -> WorkshopConfig:
    """``config`` with every session's ``instance_type: auto`` replaced by ``plan.instance_type``.

    Refuses (ConfigError) when a session says auto and no plan was applied."""
    if not any(session.instance_type == AUTO for session in config.sessions):
        return config
    if config.plan is None:
        autos = [f"sessions[{i}]" for i, s in enumerate(config.sessions) if s.instance_type == AUTO]
        raise ConfigError(
            f"{', '.join(autos)}.instance_type: 'auto' needs a plan, and workshop.yaml has none: run "
            "`hubctl plan --participants N --apply` (it records plan.instance_type), or name a type"
        )
    planned = config.plan.instance_type
    if _arm64(planned) != _arm64(config.hub.instance_type):
        raise ConfigError(
            f"plan.instance_type: {planned} and hub.instance_type {config.hub.instance_type} are of different "
            "architectures (x86_64, arm64 Graviton): a session cannot resize across them; plan again"
        )
    sessions = [
        s.model_copy(update={"instance_type": planned}) if s.instance_type == AUTO else s
        for s in config.sessions
    ]
    return config.model_copy(update={"sessions": sessions})


def load(path: str | Path) -> WorkshopConfig:
    import yaml  # here, not at the top: the Lambda functions read workshop.json and have no PyYAML

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse(data, str(path))


def from_json(text: str) -> WorkshopConfig:
    return WorkshopConfig.model_validate_json(text)

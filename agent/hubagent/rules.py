"""Validation rules for every value that can reach a shell or a program on the hub instance.

This module is the single source of these rules. It is stdlib-only because hubagent runs on the
instance with Ubuntu's python3. The same patterns are used three times:

* by the control plane's API (lambdas/workshop_hub) before anything is recorded,
* as the ``allowedPattern`` of the SSM documents' parameters (SSM refuses a command that breaks them),
* by hubagent itself, the last line of defence before git, pip or the hub API sees a value.

Every pattern is anchored, ASCII-only (no unicode look-alikes) and has no lookaround, so SSM's regex
engine and Python's agree. Each rule carries the sentence a person reads when a value breaks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from hubagent import addresses


class RuleError(ValueError):
    """A value broke a rule; ``str()`` names the field and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {shown(value)} {rule}")


def shown(value: object, limit: int = 60) -> str:
    """A value as it appears in an error message: quoted, escaped, cut when too long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: str  # anchored; also the SSM allowedPattern of a single value
    max_chars: int
    explanation: str  # completes the sentence "<field>: '<value>' ..."

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    def check(self, field: str, value: object) -> str:
        if not isinstance(value, str):
            raise RuleError(field, value, "must be a string")
        if not value:
            raise RuleError(field, value, "must not be empty")
        if len(value) > self.max_chars:
            raise RuleError(field, value, f"is longer than {self.max_chars} characters")
        if not value.isascii():
            raise RuleError(field, value, "must be plain ASCII (unicode look-alikes are refused)")
        if not self.regex.fullmatch(value):
            raise RuleError(field, value, self.explanation)
        return value

    def list_pattern(self, max_items: int) -> str:
        """An SSM allowedPattern for up to ``max_items`` values separated by single spaces."""
        inner = self.pattern.removeprefix("^").removesuffix("$")
        return f"^{inner}(?: {inner}){{0,{max_items - 1}}}$"


USERNAME = Rule(
    name="username",
    pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$",
    max_chars=32,
    explanation=(
        "is not a valid hub user name: use 1-32 lowercase letters, digits, '-' or '_', starting and "
        "ending with a letter or digit (JupyterHub lowercases names and TLJH makes each one the unix "
        "user 'jupyter-NAME', so capitals, dots, '@' and spaces are refused rather than changed)"
    ),
)

# The throwaway participant of a rehearsal (hubctl rehearse): this prefix is refused for real participants
# (check_participant_name), so a rehearsal never meets, uses or removes a real one.
REHEARSAL_PREFIX = "rehearsal--"
REHEARSAL_USER = Rule(
    name="rehearsal participant",
    pattern=r"^rehearsal--[a-z0-9]{6}$",
    max_chars=17,
    explanation="is not a rehearsal participant: 'rehearsal--' and 6 lowercase letters or digits",
)

# An initial password as it reaches the control plane and the hub: a bcrypt hash, computed on the
# instructor's computer (hubctl), so the password itself never leaves it. FirstUseAuthenticator stores
# exactly this (bcrypt.hashpw(password, bcrypt.gensalt())) and checks a login with it. 2a/2b/2y, cost
# 04-31, then 22 characters of salt and 31 of hash in bcrypt's base64 ('./A-Za-z0-9'): 60 in all.
BCRYPT_HASH = Rule(
    name="bcrypt hash",
    pattern=r"^\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$",
    max_chars=60,
    explanation=(
        "is not a bcrypt hash as bcrypt.hashpw makes it (version 2a, 2b or 2y, a cost from 04 to 31, "
        "then 53 characters of './A-Za-z0-9'); send the hash, never the password itself"
    ),
)
# One participant's initial password, as the SSM parameter carries it: NAME:HASH.
CREDENTIAL = Rule(
    name="credential",
    pattern="^" + USERNAME.pattern.strip("^$") + ":" + BCRYPT_HASH.pattern.strip("^$") + "$",
    max_chars=USERNAME.max_chars + 1 + BCRYPT_HASH.max_chars,
    explanation="must be NAME:HASH (a hub user name, then a bcrypt hash of version 2a, 2b or 2y)",
)
# Credentials in one request (API, SSM parameter, hubagent): 50 x 94 characters.
MAX_CREDENTIALS_PER_REQUEST = 50

DATA_NAME = Rule(
    name="data name",
    pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    max_chars=64,
    explanation=(
        "is not a valid data name: use 1-64 lowercase letters, digits, '-' or '_', starting and ending "
        "with a letter or digit (it becomes the folder /srv/data/NAME and a link NAME in every home)"
    ),
)

# https://host[:port]/path, no credentials, query, fragment or spaces. Each path segment starts with a
# letter, digit or '_', so '..' and option-looking segments cannot appear.
GIT_URL = Rule(
    name="git URL",
    pattern=(
        r"^https://[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
        r"(?::[0-9]{1,5})?(?:/[A-Za-z0-9_][A-Za-z0-9._~-]*)+/?$"
    ),
    max_chars=512,
    explanation=(
        "is not an allowed git URL: use https://host/path (no user:password@, no query string, no "
        "'..', no ext::, file:// or ssh URLs)"
    ),
)

# Local repositories, for the sandbox only (HUBAGENT_ALLOW_LOCAL_REPOS=1): an absolute path of plain
# segments; a segment may start with one '.' (as in '.sandbox') but '.' and '..' are impossible.
# Never allowed by the SSM documents.
LOCAL_GIT_PATH = Rule(
    name="local git path",
    pattern=r"^(?:/(?:[A-Za-z0-9_]|\.[A-Za-z0-9_~-])[A-Za-z0-9._~-]*)+/?$",
    max_chars=512,
    explanation="is not an allowed local repository path: use an absolute path of plain folder names",
)

# A branch, tag or commit: segments of [A-Za-z0-9_-] joined by single '.' or '/' (so no '..', '//',
# leading '-' or '.', trailing '/' or '.lock' is impossible to express except as a plain name).
GIT_REF = Rule(
    name="git ref",
    pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*(?:[./][A-Za-z0-9_-]+)*$",
    max_chars=128,
    explanation=(
        "is not a valid git ref: use a branch, tag or commit made of letters, digits, '-', '_' and "
        "single '.' or '/' between them"
    ),
)

_VERSION = r"[A-Za-z0-9_*+!-]+(?:\.[A-Za-z0-9_*+!-]+)*"
_PIP_OP = r"(?:===|==|~=|!=|>=|<=|<|>)"
_PEP503_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"

PIP_SPEC = Rule(
    name="pip package",
    pattern=(
        rf"^{_PEP503_NAME}(?:\[[A-Za-z0-9_-]+(?:,[A-Za-z0-9_-]+)*\])?"
        rf"(?:{_PIP_OP}{_VERSION}(?:,{_PIP_OP}{_VERSION})*)?$"
    ),
    max_chars=200,
    explanation=(
        "is not an allowed pip requirement: use NAME, NAME[extra] or NAME with version specifiers "
        "such as 'geopandas==1.0.1' or 'numpy>=1.26,<3' (no URLs, paths, options or markers)"
    ),
)

CONDA_SPEC = Rule(
    name="conda package",
    pattern=rf"^{_PEP503_NAME}(?:(?:==|=|>=|<=|!=|<|>){_VERSION}(?:,(?:>=|<=|!=|<|>){_VERSION})*)?$",
    max_chars=200,
    explanation=(
        "is not an allowed conda package: use NAME or NAME=VERSION such as 'gdal=3.9' or "
        "'xarray>=2024.1' (no channels, URLs, paths or options)"
    ),
)

INSTANCE_TYPE = Rule(
    name="instance type",
    pattern=r"^[a-z][a-z0-9-]{0,15}\.(?:nano|micro|small|medium|large|xlarge|[0-9]{1,2}xlarge|metal(?:-[0-9]{2}xl)?)$",
    max_chars=32,
    explanation="is not an EC2 instance type such as 't3.medium' or 'm7i.2xlarge'",
)

# Limits the control plane enforces on bulk requests.
MAX_USERS_PER_REQUEST = 200
MAX_PACKAGES_PER_REQUEST = 50

PACKAGE_RULES = {"pip": PIP_SPEC, "conda": CONDA_SPEC}


def check_username(value: object, field: str = "username") -> str:
    return USERNAME.check(field, value)


def check_participant_name(value: object, field: str = "username") -> str:
    """A name a real participant may have: a hub user name outside the rehearsal's reserved prefix."""
    name = check_username(value, field)
    if name.startswith(REHEARSAL_PREFIX):
        raise RuleError(
            field,
            value,
            f"starts with '{REHEARSAL_PREFIX}', which is kept for hubctl rehearse's throwaway participant",
        )
    return name


def check_bcrypt_hash(value: object, field: str = "hash") -> str:
    return BCRYPT_HASH.check(field, value)


def check_data_name(value: object, field: str = "name") -> str:
    return DATA_NAME.check(field, value)


def check_git_url(value: object, field: str = "repo", *, allow_local: bool = False) -> str:
    if allow_local and isinstance(value, str) and value.startswith("/"):
        return LOCAL_GIT_PATH.check(field, value)
    url = GIT_URL.check(field, value)
    problem = addresses.public_host_problem(addresses.host_and_port(url)[0])
    if problem is not None:
        raise RuleError(field, value, problem)
    return url


def check_git_ref(value: object, field: str = "ref") -> str:
    ref = GIT_REF.check(field, value)
    if ref.endswith(".lock"):
        raise RuleError(field, value, "must not end with '.lock' (git refuses such refs)")
    return ref


def check_package(manager: str, value: object, field: str = "packages") -> str:
    rule = PACKAGE_RULES.get(manager)
    if rule is None:
        raise RuleError("manager", manager, "must be 'pip' or 'conda'")
    return rule.check(field, value)


def check_instance_type(value: object, field: str = "instance_type") -> str:
    return INSTANCE_TYPE.check(field, value)


# --- walk-in sign-up ------------------------------------------------------------------------------

# The workshop code participants type at the sign-up door. Compared without case, spaces or '-'
# (normalize_code), so "hj7k-m3px" from a slide is "HJ7KM3PX". A generated code uses CODE_ALPHABET only.
SIGNUP_CODE = Rule(
    name="workshop code",
    pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{2,30}[A-Za-z0-9])$",
    max_chars=32,
    explanation=(
        "is not a valid workshop code: use 4-32 letters, digits and '-' (not at the ends); case and '-' "
        "do not matter when participants type it"
    ),
)
# No look-alikes: no 0/O/Q/D, 1/I/L/J, 2/Z, 5/S, 8/B, U/V (a code is read off a projected slide).
CODE_ALPHABET = "ACEFGHKMNPRTWXY34679"
GENERATED_CODE_CHARS = 8  # 20^8, 2.6e10 codes; failed tries are rate-limited at the door

# The code as the instance keeps it: PBKDF2-HMAC-SHA256 (stdlib), iterations, salt and hash in
# urlsafe base64 without padding (16-byte salt: 22 characters; 32-byte hash: 43).
CODE_HASH = Rule(
    name="code hash",
    pattern=r"^pbkdf2-sha256\$[0-9]{5,7}\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$",
    max_chars=96,
    explanation="is not a workshop code hash (pbkdf2-sha256$ITERATIONS$SALT$HASH); send the hash, not the code",
)
CODE_HASH_ITERATIONS = 100_000  # about 75 ms here: cheap per try at the door, slow for a guesser offline

# An aware ISO 8601 time as the control plane writes it (times.iso): the door's closing time.
ISO_TIME = Rule(
    name="time",
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})$",
    max_chars=40,
    explanation="is not an ISO 8601 time with its zone, such as 2026-12-03T16:00:00+00:00",
)
# A participant's own password at the door (FirstUse asks 7 of a returning user; the door asks 8).
MIN_SIGNUP_PASSWORD = 8
# Sign-ups listed in one signup-list answer (each about 60 characters: well under SSM's 24,000).
SIGNUPS_PER_PAGE = 300


def check_signup_code(value: object, field: str = "code") -> str:
    return SIGNUP_CODE.check(field, value)


def normalize_code(code: str) -> str:
    """The code as compared: upper case, without spaces and '-'."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def new_code(randbelow: Callable[[int], int]) -> str:
    """A code to read off a slide: GENERATED_CODE_CHARS of CODE_ALPHABET, shown as XXXX-XXXX."""
    chars = "".join(CODE_ALPHABET[randbelow(len(CODE_ALPHABET))] for _ in range(GENERATED_CODE_CHARS))
    half = GENERATED_CODE_CHARS // 2
    return f"{chars[:half]}-{chars[half:]}"


def hash_code(code: str, salt: bytes, iterations: int = CODE_HASH_ITERATIONS) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", normalize_code(code).encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${_b64(salt)}${_b64(digest)}"


def code_matches(code: str, stored: str) -> bool:
    """Whether ``code`` is the one ``stored`` (a CODE_HASH) was made from; compared in constant time."""
    try:
        _, iterations, salt, _ = CODE_HASH.check("code_hash", stored).split("$")
    except RuleError:
        return False
    candidate = hash_code(code, base64.urlsafe_b64decode(salt + "=="), int(iterations))
    return hmac.compare_digest(candidate.encode(), stored.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")

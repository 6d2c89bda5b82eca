"""The SSM Command documents (schema 2.2), one per action, as dicts for the CDK stack.

Each document has two steps:

1. ``aws:downloadContent`` (step DOWNLOAD_STEP) fetches the agent zip (a CDK asset) from S3 to a
   RELATIVE path, which SSM Agent resolves inside this command's own folder
   (``<orchestration dir>/downloads/agent/hubagent.zip``): two commands running at once never share,
   replace or delete each other's copy, as they would with one absolute path.
2. ``aws:runShellScript`` (step RUN_STEP) runs ``python3 -I ./hubagent.zip <subcommand> ...`` under sh
   with ``workingDirectory: agent`` (relative too: SSM Agent resolves it to that same downloads folder).

GetCommandInvocation must name the step (``PluginName=RUN_STEP``) because a document has two.

Parameter values reach the script only as environment variables (``interpolationType: ENV_VAR``,
read as "$SSM_<Name>"), never as ``{{ }}`` text in the script, and every parameter also carries an
``allowedPattern`` and ``maxChars`` from hubagent.rules, so SSM refuses a bad value before it reaches
the instance; hubagent checks every value again.

The agent zip (built by ``stacks.bundles.stage_agent``) holds, at its root:

    __main__.py        agent/launcher/__main__.py (calls hubagent.cli.main)
    hubagent/*.py      this package
"""

from __future__ import annotations

import json
from typing import Any

from hubagent import rules
from hubagent.actions import ACTIONS, TIMEOUT_SECONDS
from hubagent.rules import Rule

# Relative: inside the command's own folder (see above). The folder is also the script's working directory.
AGENT_FOLDER = "agent"
AGENT_FILE = "hubagent.zip"
DOWNLOAD_STEP = "DownloadAgent"
RUN_STEP = "RunAgent"


def _either(name: str, first: Rule, second: Rule, max_items: int, explanation: str) -> Rule:
    """A space-separated list whose items all follow ``first`` or all follow ``second``."""
    a = first.list_pattern(max_items).removeprefix("^").removesuffix("$")
    b = second.list_pattern(max_items).removeprefix("^").removesuffix("$")
    longest = max(first.max_chars, second.max_chars)
    return Rule(name, f"^(?:{a}|{b})$", max_items * (longest + 1) - 1, explanation)


def _list(rule: Rule, max_items: int, name: str) -> Rule:
    return Rule(
        name,
        rule.list_pattern(max_items),
        max_items * (rule.max_chars + 1) - 1,
        f"must be up to {max_items} {rule.name}s separated by single spaces ({rule.explanation.split(': ', 1)[-1]})",
    )


USERNAME_LIST = _list(rules.USERNAME, rules.MAX_USERS_PER_REQUEST, "usernames")
CREDENTIAL_LIST = _list(rules.CREDENTIAL, rules.MAX_CREDENTIALS_PER_REQUEST, "credentials")
PACKAGE_LIST = _either(
    "packages",
    rules.PIP_SPEC,
    rules.CONDA_SPEC,
    rules.MAX_PACKAGES_PER_REQUEST,
    "must be up to 50 pip requirements or conda packages separated by single spaces",
)
OPTIONAL_REF = Rule(
    "git ref or empty",
    "^(?:" + rules.GIT_REF.pattern.removeprefix("^").removesuffix("$") + ")?$",
    rules.GIT_REF.max_chars,
    rules.GIT_REF.explanation + " (or empty for the repository's default branch)",
)
OPTIONAL_USERNAME = Rule(
    "hub user name or empty",
    "^(?:" + rules.USERNAME.pattern.removeprefix("^").removesuffix("$") + ")?$",
    rules.USERNAME.max_chars,
    rules.USERNAME.explanation + " (or empty for the first page)",
)
COUNT = Rule("count", r"^[0-9]{1,7}$", 7, "must be a whole number (how many walk-ins were read before)")
MINUTES = Rule("minutes", r"^[0-9]{1,3}$", 3, "must be a whole number of minutes from 0 to 999")
NUMBER = Rule("number", r"^[0-9]{1,4}$", 4, "must be a whole number from 0 to 9999")
OPTIONAL_BRANCH = Rule(
    "git branch or empty", OPTIONAL_REF.pattern, OPTIONAL_REF.max_chars, OPTIONAL_REF.explanation
)

Choices = tuple[str, ...]

# Per action: SSM parameter name -> the rule its value follows, or its allowed values.
PARAMETERS: dict[str, dict[str, Rule | Choices]] = {
    "users-add": {"Usernames": USERNAME_LIST, "Admin": ("true", "false")},
    "users-remove": {"Username": rules.USERNAME},
    "users-list": {"After": OPTIONAL_USERNAME},
    "users-set-passwords": {"Credentials": CREDENTIAL_LIST, "Reset": ("true", "false")},
    "data-sync": {"Name": rules.DATA_NAME, "Repo": rules.GIT_URL, "Ref": OPTIONAL_REF},
    "data-remove": {"Name": rules.DATA_NAME},
    "packages-install": {"Manager": ("pip", "conda"), "Packages": PACKAGE_LIST},
    "disk-grow": {},
    "activity": {"Minutes": MINUTES},
    "health": {},
    "rehearse-begin": {"Participant": rules.REHEARSAL_USER, "Repo": rules.GIT_URL, "Branch": OPTIONAL_BRANCH},
    "rehearse-notebook": {
        "Participant": rules.REHEARSAL_USER,
        "Repo": rules.GIT_URL,
        "Index": NUMBER,
        "FromCell": NUMBER,
        "CellTimeout": NUMBER,
    },
    "rehearse-end": {"Participant": rules.REHEARSAL_USER},
    "signup-open": {"Until": rules.ISO_TIME, "CodeHash": rules.CODE_HASH},
    "signup-close": {},
    "signup-list": {"After": COUNT},
}

DEFAULTS: dict[str, dict[str, str]] = {
    "users-add": {"Admin": "false"},
    "users-set-passwords": {"Reset": "false"},
    "data-sync": {"Ref": ""},
    "users-list": {"After": ""},
    "activity": {"Minutes": "15"},
    "rehearse-begin": {"Branch": ""},
    "rehearse-notebook": {"FromCell": "0", "CellTimeout": "300"},
    "signup-list": {"After": "0"},
}

DESCRIPTIONS = {
    "users-add": "Create JupyterHub users (bulk, idempotent), optionally as admins.",
    "users-remove": "Delete a JupyterHub user (the home folder is kept).",
    "users-list": "List JupyterHub user names and admins, a page at a time (After: the previous page's next).",
    "users-set-passwords": "Store initial passwords (bcrypt hashes, FirstUseAuthenticator's store) for existing hub users.",
    "data-sync": "Clone or update a git repository into /srv/data/NAME and link it into every home.",
    "data-remove": "Remove /srv/data/NAME and its links from /etc/skel and every home.",
    "packages-install": "Install packages into the TLJH user environment with pip or mamba (conda-forge).",
    "disk-grow": "Grow the root partition and filesystem to the size of the EBS volume.",
    "activity": "How many users were active in the last Minutes, and who (as many names as fit).",
    "health": "Hub API, TLJH version, free disk and memory, installation finished.",
    "rehearse-begin": "Rehearsal: a throwaway participant logs in, starts a server and follows the nbgitpuller link.",
    "rehearse-notebook": "Rehearsal: run one notebook's cells in the throwaway participant's kernel and report each failure.",
    "rehearse-end": "Rehearsal: remove the throwaway participant (server, hub user, unix user, home).",
    "signup-open": "Open the walk-in sign-up door (/hub/signup) until a time, with a workshop code's hash.",
    "signup-close": "Close the walk-in sign-up door.",
    "signup-list": "The walk-ins who signed up at the door, after the After-th (as many as fit).",
}

# The hubagent command line of each action; "$SSM_X" are the parameters, quoted.
_COMMANDS: dict[str, list[str]] = {
    "users-add": [
        "set --",
        'if [ "$SSM_Admin" = "true" ]; then set -- --admin; fi',
        'exec python3 -I "$agent" users add "$@" -- "$SSM_Usernames"',
    ],
    "users-remove": ['exec python3 -I "$agent" users remove -- "$SSM_Username"'],
    "users-list": ['exec python3 -I "$agent" users list --after="$SSM_After"'],
    # The password hashes go to hubagent on stdin: never on a command line, where ps shows them.
    "users-set-passwords": [
        "set --",
        'if [ "$SSM_Reset" = "true" ]; then set -- --reset; fi',
        'printf \'%s\\n\' "$SSM_Credentials" | python3 -I "$agent" users set-passwords "$@"',
    ],
    "data-sync": [
        'exec python3 -I "$agent" data sync --name="$SSM_Name" --repo="$SSM_Repo" --ref="$SSM_Ref"'
    ],
    "data-remove": ['exec python3 -I "$agent" data remove --name="$SSM_Name"'],
    "packages-install": [
        'exec python3 -I "$agent" packages install --manager="$SSM_Manager" -- "$SSM_Packages"'
    ],
    "disk-grow": ['exec python3 -I "$agent" disk grow'],
    "activity": ['exec python3 -I "$agent" activity --minutes="$SSM_Minutes"'],
    "health": ['exec python3 -I "$agent" health'],
    "rehearse-begin": [
        'exec python3 -I "$agent" rehearse begin --participant="$SSM_Participant" --repo="$SSM_Repo" '
        '--branch="$SSM_Branch"'
    ],
    "rehearse-notebook": [
        'exec python3 -I "$agent" rehearse notebook --participant="$SSM_Participant" --repo="$SSM_Repo" '
        '--index="$SSM_Index" --from-cell="$SSM_FromCell" --cell-timeout="$SSM_CellTimeout"'
    ],
    "rehearse-end": ['exec python3 -I "$agent" rehearse end --participant="$SSM_Participant"'],
    # The code's hash goes to hubagent on stdin, as the password hashes do.
    "signup-open": [
        'printf \'%s\\n\' "$SSM_CodeHash" | python3 -I "$agent" signup open --until="$SSM_Until"'
    ],
    "signup-close": ['exec python3 -I "$agent" signup close'],
    "signup-list": ['exec python3 -I "$agent" signup list --after="$SSM_After"'],
}


def agent_path() -> str:
    """Where the document saves the agent zip, relative to the command's own downloads folder."""
    return f"{AGENT_FOLDER}/{AGENT_FILE}"


def script_lines(action: str) -> list[str]:
    """The aws:runShellScript lines of ``action`` (run by sh, in the folder the zip was saved to)."""
    lines = ["set -eu", f"agent=./{AGENT_FILE}"]
    # SSM Agent before 3.3.2746.0 does not set ENV_VAR parameters: stop with a clear message.
    lines += [f': "${{SSM_{name}?needs SSM Agent 3.3.2746.0 or newer}}"' for name in PARAMETERS[action]]
    return lines + _COMMANDS[action]


def _parameter(action: str, name: str, spec: Rule | Choices) -> dict[str, Any]:
    if isinstance(spec, Rule):
        pattern, max_chars, text = spec.pattern, spec.max_chars, spec.explanation
        extra: dict[str, Any] = {}
    else:
        pattern = "^(?:" + "|".join(spec) + ")$"
        max_chars, text = max(len(v) for v in spec), "one of: " + ", ".join(spec)
        extra = {"allowedValues": list(spec)}
    param: dict[str, Any] = {
        "type": "String",
        "description": f"{name}: {text}",
        "allowedPattern": pattern,
        "maxChars": max_chars,
        "interpolationType": "ENV_VAR",
        **extra,
    }
    default = DEFAULTS.get(action, {}).get(name)
    if default is not None:
        param["default"] = default
    return param


def document(action: str, agent_url: str) -> dict[str, Any]:
    """The SSM Command document of ``action``; ``agent_url`` is the agent zip's S3 https URL."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return {
        "schemaVersion": "2.2",
        "description": f"workshop-hub: {DESCRIPTIONS[action]} Runs hubagent {action}; prints one JSON line.",
        "parameters": {name: _parameter(action, name, spec) for name, spec in PARAMETERS[action].items()},
        "mainSteps": [
            {
                "action": "aws:downloadContent",
                "name": DOWNLOAD_STEP,
                "inputs": {
                    "sourceType": "S3",
                    "sourceInfo": json.dumps({"path": agent_url}),
                    "destinationPath": agent_path(),
                },
            },
            {
                "action": "aws:runShellScript",
                "name": RUN_STEP,
                "inputs": {
                    "workingDirectory": AGENT_FOLDER,
                    "timeoutSeconds": TIMEOUT_SECONDS[action],
                    "runCommand": script_lines(action),
                },
            },
        ],
    }

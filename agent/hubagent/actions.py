"""The actions hubagent performs: one subcommand and one SSM document each (the control plane's
workshop_hub.ports.ACTIONS is this tuple), and each one's time limit on the instance."""

from __future__ import annotations

ACTIONS = (
    "users-add",
    "users-remove",
    "users-list",
    "users-set-passwords",
    "data-sync",
    "data-remove",
    "packages-install",
    "disk-grow",
    "activity",
    "health",
    "rehearse-begin",
    "rehearse-notebook",
    "rehearse-end",
    "signup-open",
    "signup-close",
    "signup-list",
)

# The SSM documents' timeoutSeconds. hubagent gives its own slow steps less, so it still prints its JSON line.
TIMEOUT_SECONDS = {
    "users-add": 300,
    "users-remove": 120,
    "users-list": 120,
    "users-set-passwords": 300,
    "data-sync": 1500,
    "data-remove": 300,
    "packages-install": 3600,
    "disk-grow": 600,
    "activity": 60,
    "health": 60,
    "rehearse-begin": 600,
    "rehearse-notebook": 600,
    "rehearse-end": 300,
    # Opening the door the first time restarts the hub (up to 300 s in hubagent).
    "signup-open": 420,
    "signup-close": 60,
    "signup-list": 60,
}

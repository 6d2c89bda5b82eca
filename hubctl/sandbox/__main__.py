"""``python -m hubctl.sandbox up|down|status|tick`` (what ``make up`` and ``make down`` run)."""

from hubctl.sandbox.cli import main

main()

"""``python -m sandbox up|down|status|tick`` (what ``make up`` and ``make down`` run)."""

from sandbox.cli import main

main()

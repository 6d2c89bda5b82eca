# The agent zip's entry point: `python3 -I hubagent.zip ARGS` runs this, with hubagent/ beside it.
from hubagent.cli import main

raise SystemExit(main())

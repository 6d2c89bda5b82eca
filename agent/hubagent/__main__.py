from hubagent.cli import main

raise SystemExit(main())

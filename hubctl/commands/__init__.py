"""hubctl's commands, one module per noun: hub (status, start, stop, resize, keep-awake, reconcile, grow),
data (sync), packages, users, ops, link, plan, snapshots. Each command parses its options, makes one call
into the client or a handler (hubctl.operations, hubctl.participants, ...) and shows the answer;
hubctl.cli assembles them into the root app."""

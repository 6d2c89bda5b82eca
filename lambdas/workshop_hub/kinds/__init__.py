"""Every kind of operation, one module per family: its params model, what its request checks and
records, its workflow and its hooks, and who asks for it. registry.py is the table of them all."""

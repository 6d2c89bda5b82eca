"""One module per workflow. Each is a function of a ``Run`` that reads as the steps it takes."""

"""``hubctl plan``: size the hub from the workshop's own notebooks, run for real and measured.

measure (nbclient + psutil) -> arithmetic (pure) with prices (a shipped table or the Price List API)
-> render (Rich or JSON) -> apply (workshop.yaml, text-edited).
"""

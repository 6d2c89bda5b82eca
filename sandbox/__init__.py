"""The local sandbox: the whole control plane on one machine, no AWS account.

moto's server plays EC2, EBS, SSM, DynamoDB and Scheduler (signed requests only); a real JupyterHub
on 127.0.0.1 plays TLJH; the same handlers and domain code serve the API (behind a bearer token), run
the operations, fire the schedules and the state-change rule; hubagent runs locally where SSM Run
Command would run it. Everything it makes lives in ``.sandbox/`` and stays there across ``down``,
``up`` and a crash, until ``clean``. ``python -m sandbox up|down|clean|status|tick``.
"""

"""The local sandbox: the whole control plane on one machine, no AWS account.

moto's server plays EC2, EBS, SSM, DynamoDB and Scheduler; a real JupyterHub on 127.0.0.1 plays TLJH;
the same handlers and domain code serve the API (behind a bearer token), run the operations, fire the
schedules and the state-change rule; hubagent runs locally where SSM Run Command would run it.
Everything it makes lives in ``.sandbox/`` (gitignored). ``python -m hubctl.sandbox up|down|status|tick``.
"""

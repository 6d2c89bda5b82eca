"""The deployment as each control-plane function sees it: the names of what the deploy made (table,
instance, documents, worker, schedules, hub URL), read from the function's environment, checked once.

The CDK control stack sets these on the worker, reconcile, schedule and api functions:

    TABLE_NAME            the one DynamoDB table (partition key ``pk``, sort key ``sk``, both strings;
                          TTL attribute ``expires_at``): desired state, roster, operations, the
                          lease and its queue, idempotency keys (adapters/dynamodb)
    INSTANCE_ID           the hub's EC2 instance id (i-...)
    VOLUME_ID             optional: the hub's root EBS volume id (vol-...); empty = found from the
                          instance's block device mapping (its RootDeviceName)
    HUB_NAME              workshop.yaml hub.name; tags the pre-grow snapshots (workshop-hub:hub)
    DOCUMENT_NAMES        JSON object {hubagent action: SSM document name}, one per action of
                          workshop_hub.ports.ACTIONS, e.g. {"users-add": "workshop-hub-users-add", ...}
    WORKER_FUNCTION_NAME  the worker's alias ARN (arn:...:function:NAME-worker:live): a durable function is
                          invoked by a qualified name; each operation is one execution named by its id
    SCHEDULE_GROUP        the EventBridge Scheduler group that holds the hub's schedules
    SCHEDULER_ROLE_ARN    the role EventBridge Scheduler assumes to invoke the schedule function
    SCHEDULE_TARGET_ARN   the schedule function's ARN (target of the one-time postponement schedules)
    HUB_URL               the participants' address (https://dXXXX.cloudfront.net, or https://<https.domain>),
                          shown by status
    CONFIG_PATH           optional: workshop.json (the deployed workshop.yaml as JSON); default: the
                          file ``workshop.json`` at the Lambda asset root (next to the workshop_hub package)

IAM: each function's role names exactly the actions its code calls (stacks/constructs/control_functions.py),
and the tests prove it: every AWS call made while they run is checked against that function's role in the
synthesized template (tests/support/iam_contract.py), so a missing or unused grant fails `make test`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workshop_hub.ports import ACTIONS

REQUIRED = (
    "TABLE_NAME",
    "INSTANCE_ID",
    "HUB_NAME",
    "DOCUMENT_NAMES",
    "WORKER_FUNCTION_NAME",
    "SCHEDULE_GROUP",
    "SCHEDULER_ROLE_ARN",
    "SCHEDULE_TARGET_ARN",
    "HUB_URL",
)

# The Lambda asset root holds workshop_hub/ and workshop.json side by side.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "workshop.json"


class DeploymentError(RuntimeError):
    """The function's environment is incomplete or malformed; the message names every variable."""


@dataclass(frozen=True)
class Deployment:
    table_name: str
    instance_id: str
    hub_name: str
    document_names: Mapping[str, str]
    worker_function_name: str
    schedule_group: str
    scheduler_role_arn: str
    schedule_target_arn: str
    hub_url: str
    volume_id: str = ""
    config_path: Path = field(default=DEFAULT_CONFIG_PATH)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise DeploymentError(f"missing environment variables: {', '.join(missing)}")
        try:
            documents = json.loads(env["DOCUMENT_NAMES"])
        except json.JSONDecodeError as err:
            raise DeploymentError(f"DOCUMENT_NAMES is not JSON: {err}") from None
        if not isinstance(documents, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in documents.items()
        ):
            raise DeploymentError('DOCUMENT_NAMES must be a JSON object {"action": "document name"}')
        absent = [action for action in ACTIONS if action not in documents]
        if absent:
            raise DeploymentError(f"DOCUMENT_NAMES has no document for: {', '.join(absent)}")
        return cls(
            table_name=env["TABLE_NAME"].strip(),
            instance_id=env["INSTANCE_ID"].strip(),
            hub_name=env["HUB_NAME"].strip(),
            document_names=dict(documents),
            worker_function_name=env["WORKER_FUNCTION_NAME"].strip(),
            schedule_group=env["SCHEDULE_GROUP"].strip(),
            scheduler_role_arn=env["SCHEDULER_ROLE_ARN"].strip(),
            schedule_target_arn=env["SCHEDULE_TARGET_ARN"].strip(),
            hub_url=env["HUB_URL"].strip(),
            volume_id=env.get("VOLUME_ID", "").strip(),
            config_path=Path(env.get("CONFIG_PATH", "").strip() or DEFAULT_CONFIG_PATH),
        )

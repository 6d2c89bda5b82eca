"""Records every AWS call the tests make through botocore, and which Lambda function made it.

Each call becomes one or more (IAM action, resource ARN) pairs: the operation's action (``Invoke`` is
``lambda:InvokeFunction``), on the resource its parameters name where IAM has a resource type for it
(table, instance, volume, snapshot, document, schedule, function or alias, durable execution), else ``*``;
plus the actions a call implies (``CreateSchedule`` with a target role needs ``iam:PassRole`` on it).

Attribution comes from the call's own thread stack, not from the objects involved: the sandbox and the
tests share one domain object between functions. The innermost entry point on the stack decides: a frame of
``handlers.api``/``worker``/``schedule``/``reconcile`` is that function; a frame of
``InlineDispatcher.dispatch`` is the worker (the in-process stand-in for invoking it, so a worker run
nested in the api's frame is the worker's). A thread started from inside a function (a step run on a pool
thread) carries its starter's function. A call with no entry point is test set-up and is not recorded.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from workshop_hub.adapters.executions import split_qualifier

from tests.support.iam_policy import ACCOUNT, normalize_arn

HANDLER_MODULES = {f"handlers.{name}": name for name in ("api", "worker", "schedule", "reconcile")}
# (module, function, class of self) that stand for an invoke of a function, run in process.
IN_PROCESS_INVOKES = {("workshop_hub.adapters.dispatch", "dispatch", "InlineDispatcher"): "worker"}

# API operation -> IAM action, where they differ.
ACTION_NAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeAsync",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
}
# Operations IAM does not authorize.
UNAUTHORIZED = {("sts", "GetCallerIdentity")}
# DynamoDB's transactions are authorized per item, by the item's own action.
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    function: str  # api, worker, schedule, reconcile
    action: str  # service:Action as IAM spells it
    resource: str  # an ARN (account as <account>) or *
    operation: str  # service.Operation, as botocore named it
    test: str  # the test that made it


THREAD_ATTRIBUTE = "_iam_contract_function"


def attribute(frame: FrameType | None) -> str | None:
    """The function whose code is running at ``frame`` (innermost entry point), or None for set-up."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module in HANDLER_MODULES:
            return HANDLER_MODULES[module]
        owner = frame.f_locals.get("self")
        key = (module, frame.f_code.co_name, type(owner).__name__ if owner is not None else "")
        if key in IN_PROCESS_INVOKES:
            return IN_PROCESS_INVOKES[key]
        frame = frame.f_back
    inherited = getattr(threading.current_thread(), THREAD_ATTRIBUTE, None)
    return str(inherited) if inherited else None


def _arn(service: str, region: str, resource: str, *, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _function_arn(name: str, qualifier: str | None, region: str) -> str:
    """A FunctionName as Invoke takes it (name, name:qualifier, partial or full ARN) as a full ARN."""
    if name.startswith("arn:"):
        arn = normalize_arn(name)
    else:
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
            arn = _arn("lambda", region, ":".join(parts[1:]))
        else:
            arn = _arn("lambda", region, f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return arn


def _table_arn(name: str, region: str) -> str:
    return normalize_arn(name) if name.startswith("arn:") else _arn("dynamodb", region, f"table/{name}")


def requirements(
    service: str, operation: str, params: Mapping[str, Any], region: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource) pairs a call needs to be allowed."""
    if (service, operation) in UNAUTHORIZED:
        return []
    action = f"{service}:{ACTION_NAMES.get((service, operation), operation)}"

    def each(resources: list[str]) -> list[tuple[str, str]]:
        return [(action, resource) for resource in resources] or [(action, "*")]

    if service == "dynamodb":
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return each([_table_arn(t, region) for t in params.get("RequestItems", {})])
        if operation in ("TransactWriteItems", "TransactGetItems"):
            needed = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    verb = "GetItem" if kind == "Get" else _TRANSACT[kind]
                    needed.append((f"dynamodb:{verb}", _table_arn(body["TableName"], region)))
            return needed
        if "TableName" in params:
            table = _table_arn(params["TableName"], region)
            return each([f"{table}/index/{params['IndexName']}" if params.get("IndexName") else table])
        return each([])
    if service == "ec2":
        instances = list(params.get("InstanceIds", [])) + (
            [params["InstanceId"]] if "InstanceId" in params else []
        )
        if operation.startswith("Describe"):
            return each([])
        if operation == "CreateSnapshot":
            snapshot = f"arn:aws:ec2:{region}::snapshot/*"
            needed = [(action, _arn("ec2", region, f"volume/{params['VolumeId']}")), (action, snapshot)]
            if params.get("TagSpecifications"):
                needed.append(("ec2:CreateTags", snapshot))
            return needed
        if "VolumeId" in params:
            return each([_arn("ec2", region, f"volume/{params['VolumeId']}")])
        return each([_arn("ec2", region, f"instance/{i}") for i in instances])
    if service == "ssm" and operation == "SendCommand":
        name = str(params.get("DocumentName", ""))
        document = (
            normalize_arn(name)
            if name.startswith("arn:")
            else f"arn:aws:ssm:{region}::document/{name}"
            if name.startswith("AWS-")
            else _arn("ssm", region, f"document/{name}")
        )
        instances = [_arn("ec2", region, f"instance/{i}") for i in params.get("InstanceIds", [])]
        return each([document, *instances])
    if service == "scheduler" and "Name" in params:
        group = params.get("GroupName") or "default"
        needed = each([_arn("scheduler", region, f"schedule/{group}/{params['Name']}")])
        role = (params.get("Target") or {}).get("RoleArn")
        if role:
            needed.append(("iam:PassRole", normalize_arn(role)))
        return needed
    if service == "lambda":
        if operation == "ListDurableExecutionsByFunction":
            # Lambda's docs do not say whether it authorizes the function, the qualified ARN or the
            # executions it lists (sub-resources of a version, any version without a Qualifier): all must pass.
            unqualified = _function_arn(params["FunctionName"], None, region)
            qualified = _function_arn(params["FunctionName"], params.get("Qualifier"), region)
            version = params.get("Qualifier") or "<version>"
            name = params.get("DurableExecutionName") or "*"
            listed = f"{unqualified}:{version}/durable-execution/{name}/<id>"
            return each(sorted({unqualified, qualified, listed}))
        if operation.startswith("SendDurableExecutionCallback"):
            # A callback id is opaque; it belongs to a durable execution, which IAM authorizes. The only
            # callbacks this code completes are the worker's own executions' (the hub's hand-off).
            worker = os.environ.get("WORKER_FUNCTION_NAME") or "<worker>"
            unqualified = _function_arn(split_qualifier(worker)[0], None, region)
            return each([f"{unqualified}:<version>/durable-execution/<name>/<id>"])
        if "DurableExecutionArn" in params:
            return each([normalize_arn(params["DurableExecutionArn"])])
        if "FunctionName" in params:
            return each([_function_arn(params["FunctionName"], params.get("Qualifier"), region)])
    return each([])


class Recorder:
    """Collects the calls; ``install`` hooks botocore's one path every client call takes."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.test = ""
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None
        self._thread_start: Callable[..., Any] | None = None

    def record(self, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        function = attribute(sys._getframe(2))
        if function is None:
            return
        model = client.meta.service_model
        service = model.signing_name or model.endpoint_prefix
        region = client.meta.region_name or "us-east-1"
        needed = requirements(service, operation, params, region)
        with self._lock:
            for action, resource in needed:
                self.calls.append(Call(function, action, resource, f"{service}.{operation}", self.test))

    def install(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            return
        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 -- private in botocore's stubs
        recorder = self

        def _make_api_call(self: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            recorder.record(self, operation_name, api_params)
            return original(self, operation_name, api_params)

        self._original = original
        setattr(BaseClient, "_make_api_call", _make_api_call)  # noqa: B010

        thread_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            setattr(thread, THREAD_ATTRIBUTE, attribute(sys._getframe(1)))
            thread_start(thread)

        self._thread_start = thread_start
        setattr(threading.Thread, "start", start)  # noqa: B010

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            setattr(BaseClient, "_make_api_call", self._original)  # noqa: B010
            self._original = None
        if self._thread_start is not None:
            setattr(threading.Thread, "start", self._thread_start)  # noqa: B010
            self._thread_start = None

    def by_function(self) -> Iterator[tuple[str, list[Call]]]:
        functions = sorted({c.function for c in self.calls})
        for function in functions:
            yield function, [c for c in self.calls if c.function == function]

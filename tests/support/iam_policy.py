"""A small IAM policy evaluator for the synthesized control stack: which actions on which resources each
function's role allows, with the template's intrinsics resolved symbolically.

What it reads as IAM does: Allow and Deny statements (an explicit Deny wins), ``Action`` and ``Resource``
as a string or a list, ``*`` (any run of characters, ``:`` and ``/`` included) and ``?`` (one character)
in both, actions case-insensitively, resources case-sensitively. What it leaves out, on purpose: a
statement's ``Condition`` is taken as met (conditions only narrow a grant; the calls recorded here carry no
request context to test them), and ``NotAction``/``NotResource`` are refused (the stacks never write them).

Resources that exist only at deploy time resolve to names the report can show and ARNs a call can match:
``Ref AWS::AccountId`` is ``<account>`` (a recorded ARN's account is rewritten the same way),
``Fn::GetAtt [StateTable…, Arn]`` is ``arn:aws:dynamodb:<region>:<account>:table/*`` (the one table, its
generated name unknown), a cross-stack value (``Fn::GetStackOutput``, ``Fn::ImportValue``) is ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ACCOUNT = "<account>"


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in glob:
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's string match: ``*`` any characters, ``?`` exactly one, everything else literal."""
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def action_matches(glob: str, action: str) -> bool:
    return matches(glob, action, ignore_case=True)


def normalize_arn(arn: str) -> str:
    """``arn:aws:svc:region:123456789012:rest`` -> the same with ``<account>``: tests run under any account."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]):
        parts[4] = ACCOUNT
    return ":".join(parts)


@dataclass(frozen=True)
class Grant:
    """One action pattern on one resource pattern, as a statement of a role writes it."""

    action: str
    resource: str
    label: str  # the resource as the template says it, e.g. <StateTable962DE04C.Arn>
    effect: str = "Allow"

    def covers(self, action: str, resource: str) -> bool:
        return action_matches(self.action, action) and matches(self.resource, resource)


@dataclass
class Policy:
    """The grants of one role (every statement of every policy attached to it)."""

    grants: list[Grant] = field(default_factory=list)

    def allows(self, action: str, resource: str) -> list[Grant]:
        """The Allow grants that cover the call, or [] when none does or a Deny does."""
        if any(g.effect == "Deny" and g.covers(action, resource) for g in self.grants):
            return []
        return [g for g in self.grants if g.effect == "Allow" and g.covers(action, resource)]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_of(statements: Iterable[Mapping[str, Any]], resolver: Resolver) -> Policy:
    policy = Policy()
    for statement in statements:
        if "NotAction" in statement or "NotResource" in statement:
            raise ValueError(f"NotAction/NotResource are not evaluated here: {statement}")
        effect = str(statement.get("Effect", "Allow"))
        for action in _listed(statement["Action"]):
            for resource in _listed(statement["Resource"]):
                policy.grants.append(
                    Grant(
                        action=str(action),
                        resource=resolver.arn(resource),
                        label=resolver.label(resource),
                        effect=effect,
                    )
                )
    return policy


# ARN of a resource by CloudFormation type, from its name ("*" when CloudFormation generates it).
_ARNS = {
    "AWS::DynamoDB::Table": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::DynamoDB::GlobalTable": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{region}:{account}:function:{name}"),
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{account}:role/{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}:*"),
    "AWS::SSM::Document": ("Name", "arn:aws:ssm:{region}:{account}:document/{name}"),
    "AWS::Scheduler::ScheduleGroup": ("Name", "arn:aws:scheduler:{region}:{account}:schedule-group/{name}"),
    "AWS::SNS::Topic": ("TopicName", "arn:aws:sns:{region}:{account}:{name}"),
}
# What Ref returns, by type, when it is the resource's name rather than its ARN.
_REF_IS_NAME = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::Lambda::Function",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::SSM::Document",
    "AWS::Scheduler::ScheduleGroup",
}


class Resolver:
    """Resolves a template's intrinsics to an ARN pattern (for matching) and a label (for the report)."""

    def __init__(self, template: Mapping[str, Any], region: str, stack_name: str = "") -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.region = region
        self.stack_name = stack_name

    def _name(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id, {})
        key = _ARNS.get(resource.get("Type", ""), ("", ""))[0]
        name = resource.get("Properties", {}).get(key) if key else None
        return name if isinstance(name, str) else "*"

    def _arn(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id, {})
        kind = resource.get("Type", "")
        if kind == "AWS::Lambda::Alias":
            function = self.arn({"Fn::GetAtt": [resource["Properties"]["FunctionName"]["Ref"], "Arn"]})
            return f"{function}:{resource['Properties']['Name']}"
        if kind not in _ARNS:
            return "*"
        return _ARNS[kind][1].format(region=self.region, account=ACCOUNT, name=self._name(logical_id))

    def arn(self, node: Any) -> str:
        if isinstance(node, str):
            return normalize_arn(node)
        if not isinstance(node, dict) or len(node) != 1:
            return "*"
        (function, value), = node.items()  # fmt: skip
        if function == "Ref":
            pseudo = {
                "AWS::AccountId": ACCOUNT,
                "AWS::Region": self.region,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": self.stack_name,
            }
            if value in pseudo:
                return pseudo[value]
            kind = self.resources.get(value, {}).get("Type", "")
            if kind in _REF_IS_NAME:
                return self._name(value)
            return self._arn(value) if kind == "AWS::Lambda::Alias" else "*"
        if function == "Fn::GetAtt":
            logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
            return self._arn(logical_id) if attribute == "Arn" else "*"
        if function == "Fn::Join":
            delimiter, items = value
            return str(delimiter).join(self.arn(item) for item in items)
        if function == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            return re.sub(
                r"\$\{([^}]+)\}",
                lambda m: (
                    self.arn(variables.get(m.group(1)))
                    if m.group(1) in variables
                    else self.arn(
                        {"Fn::GetAtt": m.group(1).split(".", 1)} if "." in m.group(1) else {"Ref": m.group(1)}
                    )
                ),
                text,
            )
        return "*"  # Fn::GetStackOutput, Fn::ImportValue, Fn::Select...: known at deploy time only

    def label(self, node: Any) -> str:
        """cdk-nag's spelling: ``<Id.Attr>`` for GetAtt, ``<Id>`` for Ref, joins joined."""
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (function, value), = node.items()  # fmt: skip
            if function == "Ref":
                return f"<{value}>"
            if function == "Fn::GetAtt":
                parts = value if isinstance(value, list) else value.split(".", 1)
                return f"<{parts[0]}.{parts[1]}>"
            if function == "Fn::Join":
                return str(value[0]).join(self.label(item) for item in value[1])
            if function in ("Fn::GetStackOutput", "Fn::ImportValue"):
                output = value.get("OutputName", "") if isinstance(value, dict) else str(value)
                return f"<other stack: {output}>"
        return str(node)


def role_policies(template: Mapping[str, Any], region: str, stack_name: str = "") -> dict[str, Policy]:
    """Lambda function name -> the Policy of its role, for every function of the template."""
    resolver = Resolver(template, region, stack_name)
    resources = template.get("Resources", {})
    statements_by_role: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::IAM::Policy":
            continue
        for role in resource["Properties"].get("Roles", []):
            if isinstance(role, dict) and "Ref" in role:
                statements_by_role.setdefault(role["Ref"], []).extend(
                    resource["Properties"]["PolicyDocument"]["Statement"]
                )
    policies = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        name, role = props.get("FunctionName"), props.get("Role")
        if isinstance(name, str) and isinstance(role, dict) and "Fn::GetAtt" in role:
            policies[name] = policy_of(statements_by_role.get(role["Fn::GetAtt"][0], []), resolver)
    return policies

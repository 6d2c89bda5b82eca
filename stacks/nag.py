"""cdk-nag (v3): the AwsSolutions pack on every synth, and acknowledgments with their reasons.

A finding that is not acknowledged fails the synth. IAM4/IAM5 findings carry the finding in their id
(``AwsSolutions-IAM5[Resource::*]``) and are acknowledged one by one.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions pack on everything under ``scope`` (an App or a Stage)."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))


def qualified(rule_id: str) -> str:
    """``AwsSolutions-EC23`` -> ``AwsSolutions::AwsSolutions-EC23``, the id the validation report asks for.

    (A bare id is recorded as ``Annotation::<id>``, which cdk-nag 3.0.2 also honours; the qualified one
    is what its "Acknowledge with ..." hint prints.)
    """
    if "::" not in rule_id.split("[", 1)[0] and rule_id.startswith(f"{PACK}-"):
        return f"{PACK}::{rule_id}"
    return rule_id


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on ``scope`` (and what it contains); the reason is mandatory."""
    if not reason.strip():
        raise ValueError(f"{rule_id}: an acknowledgment needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=qualified(rule_id), reason=reason))


def resource_id(scope: IConstruct, value: str) -> str:
    """How cdk-nag's IAM findings spell a resource: ``value`` resolved in ``scope``'s stack, flattened.

    The same rules as cdk-nag's flattenCfnReference: ``Ref`` -> ``<Id>``, ``Fn::GetAtt`` -> ``<Id.Attr>``,
    ``Fn::Join`` joined, ``Fn::Sub``'s ``${X}`` -> ``<X>``. Use it to build the id of an IAM5 finding on a
    resource that only exists at deploy time, e.g. ``f"AwsSolutions-IAM5[Resource::{resource_id(self, arn)}/*]"``.
    """
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: object) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))

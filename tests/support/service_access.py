"""The other half of the IAM contract: where an AWS service acts on a resource of a template, that
resource's own policy (or the role's trust policy) must let it, with the conditions that keep any other
account's or resource's request out (the "confused deputy").

The IAM contract (iam_contract.py) checks what OUR functions call against THEIR roles. It cannot see the
policies on the other side: a topic policy, a role's trust policy, a Lambda function's resource-based
policy. Those decide whether CloudWatch may publish an alarm, whether Scheduler may assume its role,
whether EventBridge and API Gateway may invoke a function. A mistake there shows only on AWS: an alarm
changes state and mails nobody.

From a synthesized template, ``needed`` lists every such access (which service, which action, on which
resource, with the request context the service sends, and the condition keys it documents for
confused-deputy protection), read from the resources that cause it:

| in the template                                   | the service must                                          |
|---------------------------------------------------|-----------------------------------------------------------|
| an alarm whose actions name a topic               | cloudwatch.amazonaws.com: sns:Publish on the topic        |
| a budget notification with an SNS subscriber      | budgets.amazonaws.com: sns:Publish on the topic           |
| a schedule's target role; a function's            | scheduler.amazonaws.com: sts:AssumeRole on the role, and  |
| SCHEDULER_ROLE_ARN (the one-time schedules)       | the role itself may lambda:InvokeFunction the target      |
| a Data Lifecycle Manager policy's role            | dlm.amazonaws.com: sts:AssumeRole on the role             |
| a flow log's delivery role                        | vpc-flow-logs.amazonaws.com: sts:AssumeRole on the role   |
| an EventBridge rule's Lambda target               | events.amazonaws.com: lambda:InvokeFunction               |
| an API Gateway method's Lambda proxy integration  | apigateway.amazonaws.com: lambda:InvokeFunction           |

``check`` evaluates each against the policy that decides it: the access must be allowed (an explicit
Deny wins; conditions are evaluated against the context), and for every documented condition key a
request whose value comes from elsewhere -- another account, another schedule group, another API, another
rule -- must be refused. Besides, a Lambda permission for a service principal without a SourceArn is a
finding on its own. Conditions this evaluator does not know are refused, not guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.iam_policy import ACCOUNT, Resolver, action_matches, matches, policy_of

OTHER_ACCOUNT = "<other-account>"
__all__ = ["ACCOUNT", "OTHER_ACCOUNT", "Access", "Finding", "SymbolicResolver", "allows", "check", "needed"]


class SymbolicResolver(Resolver):
    """A template's intrinsics as the IAM contract resolves them, and what it cannot resolve as a token
    (``<LogicalId>``, ``<LogicalId.Attr>``) rather than ``*``: a reference matches only itself."""

    def arn(self, node: Any) -> str:
        if isinstance(node, dict) and len(node) == 1:
            ((function, value),) = node.items()
            if function == "Ref" and value in self.resources:
                resolved = super().arn(node)
                return resolved if resolved != "*" else f"<{value}>"
            if function == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                resolved = super().arn(node)
                return resolved if resolved != "*" else f"<{logical_id}.{attribute}>"
        return super().arn(node)


@dataclass(frozen=True)
class Access:
    """A service that must be able to act on a resource of the template."""

    service: str  # e.g. cloudwatch.amazonaws.com
    action: str  # e.g. sns:Publish
    resource: str  # the logical id of what decides: a topic, a role, a function
    arn: str  # the resource's ARN as the template's policies name it
    decided_by: str  # "topic policy", "trust policy", "function policy", "role policy"
    why: str
    context: tuple[tuple[str, str], ...] = ()  # the request context the service sends
    # Condition keys the service documents against the confused deputy: (key, a value from elsewhere).
    must_check: tuple[tuple[str, str], ...] = ()

    def request(self, **override: str) -> dict[str, str]:
        values = dict(self.context)
        values.update(override)
        return values


@dataclass(frozen=True)
class Finding:
    access: Access | None
    problem: str

    def __str__(self) -> str:
        if self.access is None:
            return self.problem
        a = self.access
        return f"{a.service} {a.action} on {a.resource} ({a.why}; {a.decided_by}): {self.problem}"


# --- evaluating statements against a request ------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str, resolver: Resolver) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if any(v == "*" for v in _listed(principal.get("AWS", []))):
        return True
    return service in {resolver.arn(s) for s in _listed(principal.get("Service", []))}


def _condition_met(operator: str, key: str, wanted: list[str], context: Mapping[str, str]) -> bool:
    present = {k.lower(): v for k, v in context.items()}
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    value = present.get(key.lower())
    if value is None:
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    if base == "Bool":
        return value.lower() in {w.lower() for w in wanted}
    positive = base.replace("Not", "")
    if positive == "StringEquals":
        hit = value in wanted
    elif positive in ("StringLike", "ArnLike", "ArnEquals"):
        hit = any(matches(w, value) for w in wanted)
    else:
        raise ValueError(f"condition operator {operator} is not evaluated here")
    return hit != ("Not" in base)


def conditions_met(condition: Mapping[str, Any], context: Mapping[str, str], resolver: Resolver) -> bool:
    for operator, pairs in condition.items():
        if operator.startswith(("ForAnyValue", "ForAllValues")):
            raise ValueError(f"condition operator {operator} is not evaluated here")
        for key, wanted in pairs.items():
            values = [resolver.arn(w) for w in _listed(wanted)]
            if not _condition_met(operator, key, values, context):
                return False
    return True


def _applies(
    statement: Mapping[str, Any],
    service: str,
    action: str,
    arn: str,
    context: Mapping[str, str],
    resolver: Resolver,
) -> bool:
    if "NotPrincipal" in statement or "NotAction" in statement or "NotResource" in statement:
        raise ValueError(f"NotPrincipal/NotAction/NotResource are not evaluated here: {statement}")
    if not _principal_matches(statement.get("Principal"), service, resolver):
        return False
    if not any(action_matches(str(a), action) for a in _listed(statement.get("Action", []))):
        return False
    if "Resource" in statement and not any(
        matches(resolver.arn(r), arn) for r in _listed(statement["Resource"])
    ):
        return False
    return conditions_met(statement.get("Condition", {}), context, resolver)


def allows(
    statements: Iterable[Mapping[str, Any]],
    service: str,
    action: str,
    arn: str,
    context: Mapping[str, str],
    resolver: Resolver,
) -> bool:
    """IAM's verdict for one request by ``service``: an explicit Deny wins, else an Allow is needed."""
    applying = [s for s in statements if _applies(s, service, action, arn, context, resolver)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.get("Effect", "Allow") == "Allow" for s in applying)


# --- what the template needs ----------------------------------------------------------------------


def _logical_id(node: Any) -> str | None:
    """The resource a ``Ref`` or ``Fn::GetAtt [X, Arn]`` names."""
    if isinstance(node, dict) and "Ref" in node:
        return str(node["Ref"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        value = node["Fn::GetAtt"]
        return str(value[0] if isinstance(value, list) else value.split(".", 1)[0])
    return None


def _function_arn(resolver: Resolver, node: Any, region: str) -> str:
    resolved = resolver.arn(node)
    if resolved.startswith("arn:") or resolved.startswith("<"):
        return resolved
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{resolved}"


@dataclass
class Needs:
    template: Mapping[str, Any]
    region: str
    resolver: SymbolicResolver = field(init=False)
    accesses: list[Access] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resolver = SymbolicResolver(self.template, self.region)
        self.resources: Mapping[str, Any] = self.template.get("Resources", {})

    def of_type(self, kind: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == kind:
                yield logical_id, resource.get("Properties", {})

    def topic(self, node: Any, service: str, why: str, source_arn: str, foreign_arn: str) -> None:
        topic = _logical_id(node)
        if topic is None or self.resources.get(topic, {}).get("Type") != "AWS::SNS::Topic":
            return  # a topic of another stack or account: its policy is not in this template
        self.accesses.append(
            Access(
                service=service,
                action="sns:Publish",
                resource=topic,
                arn=self.resolver.arn({"Ref": topic}),
                decided_by="topic policy",
                why=why,
                context=(
                    ("aws:SourceAccount", ACCOUNT),
                    ("aws:SourceArn", source_arn),
                    ("aws:SecureTransport", "true"),
                ),
                must_check=(("aws:SourceAccount", OTHER_ACCOUNT), ("aws:SourceArn", foreign_arn)),
            )
        )

    def role(
        self, node: Any, service: str, why: str, context: tuple[tuple[str, str], ...] = (), **kw: Any
    ) -> str:
        role = _logical_id(node) or str(node)
        self.accesses.append(
            Access(
                service=service,
                action="sts:AssumeRole",
                resource=role,
                arn="",
                decided_by="trust policy",
                why=why,
                context=context,
                **kw,
            )
        )
        return role

    def invoke(self, function: Any, service: str, why: str, source_arn: str, foreign_arn: str) -> None:
        arn = _function_arn(self.resolver, function, self.region)
        self.accesses.append(
            Access(
                service=service,
                action="lambda:InvokeFunction",
                resource=arn,
                arn=arn,
                decided_by="function policy",
                why=why,
                context=(("aws:SourceAccount", ACCOUNT), ("aws:SourceArn", source_arn)),
                must_check=(("aws:SourceArn", foreign_arn),),
            )
        )

    def scheduler(self, role: Any, target: Any, group: str, why: str) -> None:
        group_arn = f"arn:aws:scheduler:{self.region}:{ACCOUNT}:schedule-group/{group}"
        logical = self.role(
            role,
            "scheduler.amazonaws.com",
            why,
            context=(("aws:SourceAccount", ACCOUNT), ("aws:SourceArn", group_arn)),
            must_check=(
                ("aws:SourceAccount", OTHER_ACCOUNT),
                ("aws:SourceArn", f"arn:aws:scheduler:{self.region}:{ACCOUNT}:schedule-group/another-group"),
            ),
        )
        self.accesses.append(
            Access(
                service="scheduler.amazonaws.com",
                action="lambda:InvokeFunction",
                resource=logical,
                arn=_function_arn(self.resolver, target, self.region),
                decided_by="role policy",
                why=why,
            )
        )

    def read(self) -> list[Access]:
        region, r = self.region, self.resolver
        for logical_id, props in self.of_type("AWS::CloudWatch::Alarm"):
            name = props.get("AlarmName")
            alarm = (
                f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name if isinstance(name, str) else logical_id}"
            )
            for action in (
                *props.get("AlarmActions", []),
                *props.get("OKActions", []),
                *props.get("InsufficientDataActions", []),
            ):
                self.topic(
                    action,
                    "cloudwatch.amazonaws.com",
                    f"alarm {logical_id} notifies it",
                    alarm,
                    f"arn:aws:cloudwatch:{region}:{OTHER_ACCOUNT}:alarm:theirs",
                )
        for logical_id, props in self.of_type("AWS::Budgets::Budget"):
            name = props.get("Budget", {}).get("BudgetName", logical_id)
            for notification in props.get("NotificationsWithSubscribers", []):
                for subscriber in notification.get("Subscribers", []):
                    if subscriber.get("SubscriptionType") == "SNS":
                        self.topic(
                            subscriber.get("Address"),
                            "budgets.amazonaws.com",
                            f"budget {logical_id} notifies it",
                            f"arn:aws:budgets::{ACCOUNT}:budget/{name}",
                            f"arn:aws:budgets::{OTHER_ACCOUNT}:budget/theirs",
                        )
        for logical_id, props in self.of_type("AWS::Scheduler::Schedule"):
            target = props.get("Target", {})
            group = props.get("GroupName", "default")
            group = r.arn(group) if not isinstance(group, str) else group
            self.scheduler(target.get("RoleArn"), target.get("Arn"), group, f"schedule {logical_id}")
        for logical_id, props in self.of_type("AWS::Lambda::Function"):
            env = props.get("Environment", {}).get("Variables", {})
            if "SCHEDULER_ROLE_ARN" in env and "SCHEDULE_TARGET_ARN" in env:
                group = r.arn(env.get("SCHEDULE_GROUP", "default"))
                why = f"one-time schedules by the role and target in {logical_id}'s environment"
                self.scheduler(env["SCHEDULER_ROLE_ARN"], env["SCHEDULE_TARGET_ARN"], group, why)
        for logical_id, props in self.of_type("AWS::DLM::LifecyclePolicy"):
            # DLM documents no confused-deputy condition keys: the role must trust it, nothing more.
            self.role(props.get("ExecutionRoleArn"), "dlm.amazonaws.com", f"lifecycle policy {logical_id}")
        for logical_id, props in self.of_type("AWS::EC2::FlowLog"):
            if "DeliverLogsPermissionArn" in props:
                self.role(
                    props["DeliverLogsPermissionArn"],
                    "vpc-flow-logs.amazonaws.com",
                    f"flow log {logical_id}",
                    context=(
                        ("aws:SourceAccount", ACCOUNT),
                        ("aws:SourceArn", f"arn:aws:ec2:{region}:{ACCOUNT}:vpc-flow-log/<{logical_id}>"),
                    ),
                )
        for logical_id, props in self.of_type("AWS::Events::Rule"):
            for target in props.get("Targets", []):
                if ":lambda:" in r.arn(target.get("Arn")) or self._is_function(target.get("Arn")):
                    self.invoke(
                        target["Arn"],
                        "events.amazonaws.com",
                        f"rule {logical_id} targets it",
                        r.arn({"Fn::GetAtt": [logical_id, "Arn"]}),
                        f"arn:aws:events:{region}:{ACCOUNT}:rule/another-rule",
                    )
        self._api_methods()
        return self.accesses

    def _is_function(self, node: Any) -> bool:
        logical = _logical_id(node)
        kind = self.resources.get(logical or "", {}).get("Type")
        return kind in ("AWS::Lambda::Function", "AWS::Lambda::Alias")

    def _path(self, resource_id: Any) -> str:
        logical = _logical_id(resource_id)
        node = self.resources.get(logical or "", {})
        if node.get("Type") != "AWS::ApiGateway::Resource":
            return ""  # the API's root resource
        part = str(node["Properties"]["PathPart"])
        sample = "p" if part.startswith("{") else part  # a path parameter, as a request fills it
        return f"{self._path(node['Properties']['ParentId'])}/{sample}"

    def _api_methods(self) -> None:
        region = self.region
        stages: dict[str, list[str]] = {}
        for logical_id, props in self.of_type("AWS::ApiGateway::Stage"):
            stages.setdefault(_logical_id(props.get("RestApiId")) or "", []).append(logical_id)
        for logical_id, props in self.of_type("AWS::ApiGateway::Method"):
            integration = props.get("Integration", {})
            if integration.get("Type") not in ("AWS_PROXY", "AWS"):
                continue
            uri = integration.get("Uri")
            parts = uri.get("Fn::Join", ["", []])[1] if isinstance(uri, dict) else []
            functions = [p for p in parts if self._is_function(p)]
            if not functions:
                continue
            api = _logical_id(props.get("RestApiId")) or ""
            path = self._path(props.get("ResourceId")) or "/"
            method = str(props.get("HttpMethod", "GET"))
            for stage in stages.get(api, []):
                self.invoke(
                    functions[0],
                    "apigateway.amazonaws.com",
                    f"{method} {path} on stage <{stage}> of API <{api}> (method {logical_id})",
                    f"arn:aws:execute-api:{region}:{ACCOUNT}:<{api}>/<{stage}>/{method}{path}",
                    f"arn:aws:execute-api:{region}:{ACCOUNT}:another-api/<{stage}>/{method}{path}",
                )


def needed(template: Mapping[str, Any], region: str) -> list[Access]:
    return Needs(template, region).read()


# --- the policies that decide ---------------------------------------------------------------------


def _topic_statements(resources: Mapping[str, Any], topic: str) -> list[Mapping[str, Any]] | None:
    """The statements of the topic policies that cover ``topic``; None when it has none (the default
    policy applies)."""
    found: list[Mapping[str, Any]] | None = None
    for resource in resources.values():
        if resource.get("Type") != "AWS::SNS::TopicPolicy":
            continue
        props = resource["Properties"]
        if any(_logical_id(t) == topic for t in props.get("Topics", [])):
            found = (found or []) + list(props["PolicyDocument"].get("Statement", []))
    return found


def _function_statements(
    resources: Mapping[str, Any], arn: str, resolver: Resolver, region: str
) -> list[dict[str, Any]]:
    """Lambda's resource-based policy of the function ``arn``, from its AWS::Lambda::Permission resources."""
    statements = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::Permission":
            continue
        props = resource["Properties"]
        if _function_arn(resolver, props.get("FunctionName"), region) != arn:
            continue
        principal = resolver.arn(props.get("Principal"))
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": principal}
            if principal.endswith(".amazonaws.com")
            else {"AWS": principal},
            "Action": props.get("Action"),
            "Resource": arn,
        }
        condition: dict[str, dict[str, Any]] = {}
        if "SourceArn" in props:
            condition["ArnLike"] = {"aws:SourceArn": props["SourceArn"]}
        if "SourceAccount" in props:
            condition["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return statements


def _role_statements(resources: Mapping[str, Any], role: str) -> list[Mapping[str, Any]]:
    statements: list[Mapping[str, Any]] = []
    for resource in resources.values():
        if resource.get("Type") == "AWS::IAM::Policy" and any(
            _logical_id(r) == role for r in resource["Properties"].get("Roles", [])
        ):
            statements.extend(resource["Properties"]["PolicyDocument"].get("Statement", []))
    for policy in resources.get(role, {}).get("Properties", {}).get("Policies", []):
        statements.extend(policy["PolicyDocument"].get("Statement", []))
    return statements


def check(template: Mapping[str, Any], region: str) -> list[Finding]:
    """Every access the template needs, against the policy that decides it."""
    needs = Needs(template, region)
    accesses = needs.read()
    resolver, resources = needs.resolver, needs.resources
    findings: list[Finding] = []
    for access in accesses:
        if access.decided_by == "role policy":
            policy = policy_of(_role_statements(resources, access.resource), resolver)
            if not policy.allows(access.action, access.arn):
                findings.append(Finding(access, f"the role's own policy does not allow it on {access.arn}"))
            continue
        statements: list[Mapping[str, Any]]
        if access.decided_by == "topic policy":
            topic = _topic_statements(resources, access.resource)
            if topic is None:
                findings.append(
                    Finding(access, "the topic has no policy: give it one that allows this service")
                )
                continue
            statements = topic
        elif access.decided_by == "trust policy":
            role = resources.get(access.resource, {})
            if role.get("Type") != "AWS::IAM::Role":
                continue  # a role of another stack: its trust policy is not in this template
            statements = list(role["Properties"]["AssumeRolePolicyDocument"].get("Statement", []))
        else:
            statements = list(_function_statements(resources, access.arn, resolver, region))
        if not allows(statements, access.service, access.action, access.arn, access.request(), resolver):
            findings.append(
                Finding(access, "not allowed: no statement lets this service do it (or a Deny applies)")
            )
            continue
        for key, foreign in access.must_check:
            if allows(
                statements,
                access.service,
                access.action,
                access.arn,
                access.request(**{key: foreign}),
                resolver,
            ):
                findings.append(
                    Finding(access, f"also allowed with {key} = {foreign}: add a condition on {key}")
                )
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Permission":
            continue
        props = resource["Properties"]
        principal = resolver.arn(props.get("Principal"))
        if principal.endswith(".amazonaws.com") and "SourceArn" not in props:
            findings.append(
                Finding(None, f"Lambda permission {logical_id} lets {principal} invoke with no SourceArn")
            )
    return findings

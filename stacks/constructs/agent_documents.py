"""hubagent's SSM Command documents, one per action, as agent/hubagent/documents.py defines them.

Each document downloads the hubagent bundle (the hub stack's asset) and runs one subcommand with its
parameters passed as environment variables; every parameter has an allowedPattern.
"""

from __future__ import annotations

from aws_cdk import aws_ssm as ssm
from constructs import Construct
from hubagent import documents
from workshop_hub.ports import ACTIONS


def document_name(hub_name: str, action: str) -> str:
    return f"{hub_name}-{action}"


class AgentDocuments(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, hub_name: str, agent_url: str) -> None:
        super().__init__(scope, construct_id)
        self.names: dict[str, str] = {}
        for action in ACTIONS:
            name = document_name(hub_name, action)
            ssm.CfnDocument(
                self,
                "".join(part.title() for part in action.split("-")),
                name=name,
                document_type="Command",
                document_format="JSON",
                content=documents.document(action, agent_url),
                # A new agent bundle or rule changes the content: keep the name, add a version.
                update_method="NewVersion",
            )
            self.names[action] = name

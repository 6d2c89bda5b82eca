"""DynamoDB, one table, one store per aggregate: operations, the lease and its queue, the roster,
the desired state, idempotency keys, initial password hashes waiting for their operation. One table because every read is a key lookup or one partition's
query, the functions share one IAM statement, and point-in-time recovery covers everything at once;
``expires_at`` (epoch seconds) is the table's TTL attribute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workshop_hub.operations import utcnow
from workshop_hub.store.desired import Desired, DesiredState, package_key
from workshop_hub.store.keys import IdempotencyKeys
from workshop_hub.store.lease import Holder, Lease
from workshop_hub.store.operation_log import OperationLog
from workshop_hub.store.passwords import PasswordHashes
from workshop_hub.store.roster import Roster, RosterEntry
from workshop_hub.store.table import Clock, Table, create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "Desired",
    "DesiredState",
    "Holder",
    "IdempotencyKeys",
    "Lease",
    "OperationLog",
    "PasswordHashes",
    "Roster",
    "RosterEntry",
    "Stores",
    "Table",
    "create_table",
    "package_key",
]


@dataclass(frozen=True)
class Stores:
    operations: OperationLog
    lease: Lease
    roster: Roster
    desired: Desired
    keys: IdempotencyKeys
    passwords: PasswordHashes

    @classmethod
    def over(cls, client: DynamoDBClient, table_name: str, clock: Clock = utcnow) -> Stores:
        table = Table(client, table_name, clock)
        return cls(
            OperationLog(table),
            Lease(table),
            Roster(table),
            Desired(table),
            IdempotencyKeys(table),
            PasswordHashes(table),
        )

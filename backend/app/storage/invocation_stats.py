"""A function's invocation figures (`FNSTATS#{function_id}`): counters added atomically.

Every replica adds what it saw since its last flush with one `ADD` (count, errors and the
touched buckets of a log-scale duration histogram), so replicas never overwrite each other and
no read-modify-write is needed. The addition is conditional on the function item existing
(a transaction), so a flush that races a delete cannot leave figures of a deleted function.
"""

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons
from app.errors import storage_error
from app.storage import keys
from app.storage.dynamo import from_item, to_item, to_value

BUCKET_ATTRIBUTE = "h{:02d}"


@dataclass
class StatsDelta:
    """What one replica adds to a function's figures in one flush."""

    workspace_id: str
    count: int = 0
    errors: int = 0
    buckets: dict[int, int] = field(default_factory=dict)
    last_invoked_at: str | None = None


@dataclass(frozen=True)
class StoredStats:
    count: int
    errors: int
    buckets: dict[int, int]
    last_invoked_at: str | None


class InvocationStatsRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def add(self, *, function_id: str, delta: StatsDelta) -> bool:
        """Add `delta` to the function's figures; False when the function is gone."""
        names = {"#count": "count", "#errors": "errors", "#type": "Type"}
        values: dict[str, Any] = {
            ":count": to_value(delta.count),
            ":errors": to_value(delta.errors),
            ":type": to_value("FunctionStats"),
        }
        adds = ["#count :count", "#errors :errors"]
        for index, number in sorted(delta.buckets.items()):
            names[f"#b{index}"] = BUCKET_ATTRIBUTE.format(index)
            values[f":b{index}"] = to_value(number)
            adds.append(f"#b{index} :b{index}")
        expression = "SET #type = :type"
        if delta.last_invoked_at:
            names["#last"] = "last_invoked_at"
            values[":last"] = to_value(delta.last_invoked_at)
            expression += ", #last = :last"
        expression += " ADD " + ", ".join(adds)
        workspace_id = delta.workspace_id
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_key(workspace_id, function_id)),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_stats_key(workspace_id, function_id)),
                            "UpdateExpression": expression,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise storage_error(exc) from exc
        return True

    async def get(self, *, workspace_id: str, function_id: str) -> StoredStats:
        """The function's figures as stored (zero when it was never invoked)."""
        try:
            response = await self._client.get_item(
                TableName=self._table,
                Key=to_item(keys.function_stats_key(workspace_id, function_id)),
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        item = from_item(response["Item"]) if "Item" in response else {}
        buckets = {
            int(name[1:]): int(value)
            for name, value in item.items()
            if len(name) == 3 and name[0] == "h" and name[1:].isdigit()
        }
        return StoredStats(
            count=int(item.get("count", 0)),
            errors=int(item.get("errors", 0)),
            buckets=buckets,
            last_invoked_at=item.get("last_invoked_at"),
        )

    async def delete(self, *, workspace_id: str, function_id: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=to_item(keys.function_stats_key(workspace_id, function_id)),
            )
        except ClientError as exc:
            raise storage_error(exc) from exc

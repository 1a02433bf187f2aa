"""Workspace items: `WS#{id}` / `META`, listed per owner through ListIndex."""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import is_condition_failure
from app.errors import NotFound
from app.storage import keys
from app.storage.dynamo import (
    from_item,
    set_expression,
    to_item,
    to_value,
)


class WorkspaceRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def create(self, *, workspace: dict[str, Any]) -> None:
        """Write a new workspace and its owner's membership in one transaction."""
        item = {**keys.workspace_key(workspace["id"]), "Type": "Workspace", **workspace}
        owner = {
            **keys.member_key(workspace["id"], workspace["owner"]),
            **keys.member_list_keys(
                subject=workspace["owner"],
                joined_at=workspace["created_at"],
                workspace_id=workspace["id"],
            ),
            "Type": "Member",
            "workspace_id": workspace["id"],
            "subject": workspace["owner"],
            "role": "owner",
            "joined_at": workspace["created_at"],
        }
        await self._client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {"Put": {"TableName": self._table, "Item": to_item(owner)}},
            ]
        )

    async def get(self, *, workspace_id: str) -> dict[str, Any] | None:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.workspace_key(workspace_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record(item) if item else None

    async def get_many(self, *, workspace_ids: list[str]) -> list[dict[str, Any]]:
        """The workspaces that exist among `workspace_ids`, in that order."""
        if not workspace_ids:
            return []
        wanted = [to_item(keys.workspace_key(ws)) for ws in workspace_ids]
        found: dict[str, dict[str, Any]] = {}
        while wanted:
            response = await self._client.batch_get_item(
                RequestItems={self._table: {"Keys": wanted, "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(self._table, []):
                record = _record(item)
                found[record["id"]] = record
            wanted = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return [found[ws] for ws in workspace_ids if ws in found]

    async def update(self, *, workspace_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `changes` to an existing workspace and return the new record."""
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=to_item(keys.workspace_key(workspace_id)),
                ConditionExpression="attribute_exists(PK)",
                **set_expression(changes),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound(
                    f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND"
                ) from exc
            raise
        return _record(response["Attributes"])

    async def partition_keys(self, *, workspace_id: str) -> list[dict[str, Any]]:
        """The keys of every item in the workspace's partition (for a cascading delete)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": to_value(keys.workspace_pk(workspace_id))},
            "ProjectionExpression": "PK, SK",
        }
        while True:
            response = await self._client.query(**request)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def delete_items(self, *, item_keys: list[dict[str, Any]]) -> None:
        """Delete raw keys in batches of 25, retrying what DynamoDB leaves unprocessed."""
        for start in range(0, len(item_keys), 25):
            pending = [{"DeleteRequest": {"Key": key}} for key in item_keys[start : start + 25]]
            while pending:
                response = await self._client.batch_write_item(RequestItems={self._table: pending})
                pending = response.get("UnprocessedItems", {}).get(self._table, [])

    async def delete(self, *, workspace_id: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=to_item(keys.workspace_key(workspace_id)),
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound(
                    f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND"
                ) from exc
            raise


_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.LIST_PK, keys.LIST_SK, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}

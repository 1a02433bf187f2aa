"""Workspace items: `WS#{id}` / `META`, listed per owner through ListIndex."""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import is_condition_failure
from app.errors import NotFound
from app.storage import keys
from app.storage.dynamo import (
    Page,
    decode_token,
    encode_token,
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
        """Write a new workspace; its id must not exist yet."""
        item = {
            **keys.workspace_key(workspace["id"]),
            **keys.workspace_list_keys(
                owner=workspace["owner"],
                created_at=workspace["created_at"],
                workspace_id=workspace["id"],
            ),
            "Type": "Workspace",
            **workspace,
        }
        await self._client.put_item(
            TableName=self._table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(PK)",
        )

    async def get(self, *, workspace_id: str) -> dict[str, Any] | None:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.workspace_key(workspace_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record(item) if item else None

    async def list_for_owner(self, *, owner: str, limit: int, next_token: str | None) -> Page:
        list_pk = keys.owner_list_pk(owner)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.LIST_INDEX,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.LIST_PK},
            "ExpressionAttributeValues": {":pk": to_value(list_pk)},
            "Limit": limit,
        }
        start = decode_token(next_token, expected={keys.LIST_PK: list_pk})
        if start:
            request["ExclusiveStartKey"] = start
        response = await self._client.query(**request)
        return Page(
            items=[_record(item) for item in response.get("Items", [])],
            next_token=encode_token(response.get("LastEvaluatedKey")),
        )

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

"""Workspace members (`MEMBER#{subject}`), listed per user through ListIndex."""

from typing import Any

from app.storage import keys
from app.storage.dynamo import (
    Page,
    decode_token,
    encode_token,
    from_item,
    query_partition_prefix,
    to_item,
    to_value,
)

_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.LIST_PK, keys.LIST_SK, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}


class MemberRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def get(self, *, workspace_id: str, subject: str) -> dict[str, Any] | None:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.member_key(workspace_id, subject)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record(item) if item else None

    async def put(self, *, workspace_id: str, subject: str, role: str, joined_at: str) -> None:
        """Add a member, or change a member's role."""
        item = {
            **keys.member_key(workspace_id, subject),
            **keys.member_list_keys(
                subject=subject, joined_at=joined_at, workspace_id=workspace_id
            ),
            "Type": "Member",
            "workspace_id": workspace_id,
            "subject": subject,
            "role": role,
            "joined_at": joined_at,
        }
        await self._client.put_item(TableName=self._table, Item=to_item(item))

    async def remove(self, *, workspace_id: str, subject: str) -> None:
        await self._client.delete_item(
            TableName=self._table, Key=to_item(keys.member_key(workspace_id, subject))
        )

    async def list_in_workspace(self, *, workspace_id: str) -> list[dict[str, Any]]:
        items = await query_partition_prefix(
            self._client, self._table, pk=keys.workspace_pk(workspace_id), prefix=keys.MEMBER_PREFIX
        )
        return [_record(item) for item in items]

    async def workspaces_of(self, *, subject: str, limit: int, next_token: str | None) -> Page:
        """One page of a user's memberships, in the order they joined."""
        list_pk = keys.user_list_pk(subject)
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

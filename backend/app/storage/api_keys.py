"""API key items (`APIKEY#{key_id}`): metadata and the secret's hash, never the secret."""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import is_condition_failure
from app.errors import NotFound
from app.storage import keys
from app.storage.dynamo import (
    from_item,
    get_by_entity_id,
    query_partition_prefix,
    to_item,
)

_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.ENTITY_ID, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}


class ApiKeyRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def create(self, *, record: dict[str, Any]) -> None:
        item = {
            **keys.api_key_key(record["workspace_id"], record["id"]),
            keys.ENTITY_ID: keys.api_key_entity_id(record["id"]),
            "Type": "ApiKey",
            **record,
        }
        await self._client.put_item(
            TableName=self._table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(PK)",
        )

    async def get(self, *, key_id: str) -> dict[str, Any] | None:
        item = await get_by_entity_id(self._client, self._table, keys.api_key_entity_id(key_id))
        return _record(item) if item else None

    async def list_in_workspace(self, *, workspace_id: str) -> list[dict[str, Any]]:
        items = await query_partition_prefix(
            self._client,
            self._table,
            pk=keys.workspace_pk(workspace_id),
            prefix=keys.API_KEY_PREFIX,
        )
        return [_record(item) for item in items]

    async def delete(self, *, workspace_id: str, key_id: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=to_item(keys.api_key_key(workspace_id, key_id)),
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound(f"API key {key_id} not found", code="API_KEY_NOT_FOUND") from exc
            raise

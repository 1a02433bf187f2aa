"""Workspace items (`WS#{id}` / `META`); the owner's membership is written with the workspace.

Deleting a workspace's other items (a cascade) also lives here: it is the workspace's
partition that goes.
"""

from typing import Any

from botocore.exceptions import ClientError

from app.auth.models import MemberRecord
from app.errors import Conflict, NotFound, storage_error
from app.storage import keys
from app.storage.dynamo import Item, to_item, to_value
from app.storage.members import member_item
from app.storage.repository import Repository
from app.workspaces.models import WorkspaceRecord


def _not_found(workspace_id: str) -> NotFound:
    return NotFound(f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND")


class WorkspaceRepository(Repository[WorkspaceRecord]):
    model = WorkspaceRecord
    item_type = "Workspace"

    async def create(self, *, workspace: WorkspaceRecord) -> None:
        """Write a new workspace and its owner's membership in one transaction."""
        owner = MemberRecord(
            workspace_id=workspace.id,
            subject=workspace.owner,
            role="owner",
            joined_at=workspace.created_at,
        )
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._item(workspace, keys.workspace_key(workspace.id)),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": member_item(owner)}},
                ]
            )
        except ClientError as exc:
            exists = Conflict(f"Workspace {workspace.id} already exists", code="WORKSPACE_EXISTS")
            raise storage_error(exc, on_condition=exists) from exc

    async def get(self, *, workspace_id: str) -> WorkspaceRecord | None:
        return await self._get(keys.workspace_key(workspace_id))

    async def get_many(self, *, workspace_ids: list[str]) -> list[WorkspaceRecord]:
        """The workspaces that exist among `workspace_ids`, in that order."""
        if not workspace_ids:
            return []
        wanted = [to_item(keys.workspace_key(ws)) for ws in workspace_ids]
        found: dict[str, WorkspaceRecord] = {}
        while wanted:
            try:
                response = await self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": wanted, "ConsistentRead": True}}
                )
            except ClientError as exc:
                raise storage_error(exc) from exc
            for item in response.get("Responses", {}).get(self._table, []):
                record = self._read(item)
                found[record.id] = record
            wanted = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return [found[ws] for ws in workspace_ids if ws in found]

    async def update(
        self, *, workspace: WorkspaceRecord, changes: dict[str, Any]
    ) -> WorkspaceRecord:
        """Apply `changes` to an existing workspace and return the new record."""
        return await self._update(
            keys.workspace_key(workspace.id),
            current=workspace,
            changes=changes,
            missing=_not_found(workspace.id),
        )

    async def delete_contents(self, *, workspace_id: str) -> None:
        """Delete every item of the workspace's partition but the workspace itself.

        A crash half-way leaves a workspace that can be deleted again, never orphaned items
        without their workspace.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": to_value(keys.workspace_pk(workspace_id))},
            "ProjectionExpression": "PK, SK",
        }
        while True:
            try:
                response = await self._client.query(**request)
            except ClientError as exc:
                raise storage_error(exc) from exc
            others = [item for item in response.get("Items", []) if item[keys.SK]["S"] != keys.META]
            await self._delete_keys(others)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def _delete_keys(self, item_keys: list[Item]) -> None:
        """Delete raw keys in batches of 25, retrying what DynamoDB leaves unprocessed."""
        for start in range(0, len(item_keys), 25):
            pending = [{"DeleteRequest": {"Key": key}} for key in item_keys[start : start + 25]]
            while pending:
                try:
                    response = await self._client.batch_write_item(
                        RequestItems={self._table: pending}
                    )
                except ClientError as exc:
                    raise storage_error(exc) from exc
                pending = response.get("UnprocessedItems", {}).get(self._table, [])

    async def delete(self, *, workspace_id: str) -> None:
        await self._delete(keys.workspace_key(workspace_id), missing=_not_found(workspace_id))

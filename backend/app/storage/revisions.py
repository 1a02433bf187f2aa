"""Revision items (`REV#{function_id}#{n:08d}` in the workspace's partition).

A revision is written once, in the same transaction as the function's update that makes it
live (FunctionRepository.follow_task); afterwards only retention marks its artifacts removed.
"""

from botocore.exceptions import ClientError

from app.errors import NotFound, storage_error
from app.functions.revisions import Revision
from app.storage import keys
from app.storage.dynamo import Item, Page, to_item, to_value
from app.storage.repository import Repository


def revision_not_found(function_id: str, number: int) -> NotFound:
    return NotFound(f"Function {function_id} has no revision {number}", code="REVISION_NOT_FOUND")


class RevisionRepository(Repository[Revision]):
    model = Revision
    item_type = "Revision"

    def item(self, revision: Revision) -> Item:
        """The item that stores `revision` (validated and measured), for a transaction."""
        key = keys.revision_key(revision.workspace_id, revision.function_id, revision.revision)
        return self._item(revision, key)

    async def get(self, *, workspace_id: str, function_id: str, number: int) -> Revision | None:
        return await self._get(keys.revision_key(workspace_id, function_id, number))

    async def list_newest_first(
        self, *, workspace_id: str, function_id: str, limit: int, next_token: str | None
    ) -> Page[Revision]:
        return await self._page(
            pk=keys.workspace_pk(workspace_id),
            prefix=keys.function_revisions(function_id),
            limit=limit,
            next_token=next_token,
            ScanIndexForward=False,
        )

    async def all_of(self, *, workspace_id: str, function_id: str) -> list[Revision]:
        """Every revision of a function, oldest first."""
        return await self._all(
            pk=keys.workspace_pk(workspace_id), prefix=keys.function_revisions(function_id)
        )

    async def mark_artifacts_removed(self, *, revision: Revision) -> None:
        """Retention removed the revision's objects and image (the record itself stays)."""
        key = keys.revision_key(revision.workspace_id, revision.function_id, revision.revision)
        try:
            await self._client.update_item(
                TableName=self._table,
                Key=to_item(key),
                UpdateExpression="SET artifacts_removed = :yes",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":yes": to_value(True)},
            )
        except ClientError as exc:
            raise storage_error(
                exc, on_condition=revision_not_found(revision.function_id, revision.revision)
            ) from exc

    async def delete(self, *, revision: Revision) -> None:
        key = keys.revision_key(revision.workspace_id, revision.function_id, revision.revision)
        await self._delete(key, missing=None)

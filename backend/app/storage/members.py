"""Workspace members (`MEMBER#{subject}`), listed per user through ListIndex."""

from typing import Any

from botocore.exceptions import ClientError

from app.auth.models import MemberRecord
from app.errors import storage_error
from app.storage import keys
from app.storage.dynamo import Item, Page, to_value
from app.storage.repository import Repository, record_item

ITEM_TYPE = "Member"


def member_item(member: MemberRecord) -> Item:
    """The item of a membership, with the ListIndex keys that list a user's workspaces."""
    return record_item(
        member,
        {
            **keys.member_key(member.workspace_id, member.subject),
            **keys.member_list_keys(
                subject=member.subject, joined_at=member.joined_at, workspace_id=member.workspace_id
            ),
            "Type": ITEM_TYPE,
        },
    )


class MemberRepository(Repository[MemberRecord]):
    model = MemberRecord
    item_type = ITEM_TYPE

    async def get(self, *, workspace_id: str, subject: str) -> MemberRecord | None:
        return await self._get(keys.member_key(workspace_id, subject))

    async def put(self, *, member: MemberRecord) -> None:
        """Add a member, or change a member's role."""
        try:
            await self._client.put_item(TableName=self._table, Item=member_item(member))
        except ClientError as exc:
            raise storage_error(exc) from exc

    async def remove(self, *, workspace_id: str, subject: str) -> None:
        await self._delete(keys.member_key(workspace_id, subject), missing=None)

    async def list_in_workspace(self, *, workspace_id: str) -> list[MemberRecord]:
        return await self._all(pk=keys.workspace_pk(workspace_id), prefix=keys.MEMBER_PREFIX)

    async def workspaces_of(
        self, *, subject: str, limit: int, next_token: str | None
    ) -> Page[MemberRecord]:
        """One page of a user's memberships, in the order they joined."""
        list_pk = keys.user_list_pk(subject)
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.LIST_INDEX,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.LIST_PK},
            "ExpressionAttributeValues": {":pk": to_value(list_pk)},
            "Limit": limit,
        }
        return await self._query_page(
            query, next_token=next_token, expected={keys.LIST_PK: list_pk}
        )

"""Members and API keys of a workspace."""

from typing import Any

from app.auth import api_keys
from app.auth.principal import Principal
from app.auth.role_cache import RoleCache
from app.auth.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, Member, MemberUpdate
from app.clock import now_iso
from app.errors import Conflict, Forbidden, InvalidInput
from app.storage.api_keys import ApiKeyRepository
from app.storage.members import MemberRepository

SUBJECT_MAX = 200


async def set_member(
    *,
    members: MemberRepository,
    roles: RoleCache,
    workspace: dict[str, Any],
    subject: str,
    data: MemberUpdate,
) -> Member:
    """Add a user to a workspace, or change their role."""
    if not subject or len(subject) > SUBJECT_MAX or subject.startswith("apikey:"):
        raise InvalidInput("subject must name a user", code="INVALID_SUBJECT")
    current = await members.get(workspace_id=workspace["id"], subject=subject)
    if current and current["role"] == "owner" and data.role != "owner":
        await _keep_an_owner(members=members, workspace_id=workspace["id"], leaving=subject)
    joined = current["joined_at"] if current else now_iso()
    await members.put(
        workspace_id=workspace["id"], subject=subject, role=data.role, joined_at=joined
    )
    return Member(subject=subject, role=data.role, joined_at=joined)


async def remove_member(
    *, members: MemberRepository, roles: RoleCache, workspace: dict[str, Any], subject: str
) -> None:
    current = await members.get(workspace_id=workspace["id"], subject=subject)
    if current is None:
        return
    if current["role"] == "owner":
        await _keep_an_owner(members=members, workspace_id=workspace["id"], leaving=subject)
    await members.remove(workspace_id=workspace["id"], subject=subject)
    roles.forget(workspace["id"], subject)


async def _keep_an_owner(*, members: MemberRepository, workspace_id: str, leaving: str) -> None:
    owners = [
        m
        for m in await members.list_in_workspace(workspace_id=workspace_id)
        if m["role"] == "owner"
    ]
    if [m["subject"] for m in owners] == [leaving]:
        raise Conflict("A workspace keeps at least one owner", code="LAST_OWNER")


async def create_api_key(
    *, keys: ApiKeyRepository, workspace: dict[str, Any], caller: Principal, data: ApiKeyCreate
) -> ApiKeyCreated:
    """A new key for the workspace; the only time its secret is shown."""
    if caller.is_key:
        raise Forbidden("API keys cannot create API keys", code="FORBIDDEN")
    key_id, full, secret_hash = api_keys.new_key()
    record = {
        "id": key_id,
        "workspace_id": workspace["id"],
        "name": data.name,
        "created_at": now_iso(),
        "created_by": caller.subject,
        "secret_hash": secret_hash,
    }
    await keys.create(record=record)
    return ApiKeyCreated(key=full, **ApiKey.model_validate(record).model_dump())

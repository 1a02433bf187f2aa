"""Members and API keys of a workspace."""

from app.auth import api_keys
from app.auth.models import ApiKeyRecord, MemberRecord
from app.auth.principal import Principal
from app.auth.role_cache import RoleCache
from app.auth.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    Member,
    MemberList,
    MemberUpdate,
)
from app.clock import now_iso
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.ids import is_id
from app.storage.api_keys import ApiKeyRepository
from app.storage.members import MemberRepository
from app.workspaces.models import WorkspaceRecord

SUBJECT_MAX = 200


def _member(record: MemberRecord) -> Member:
    return Member(subject=record.subject, role=record.role, joined_at=record.joined_at)


def _api_key(record: ApiKeyRecord) -> ApiKey:
    return ApiKey.model_validate(record.model_dump(exclude={"secret_hash"}))


async def list_members(*, members: MemberRepository, workspace: WorkspaceRecord) -> MemberList:
    """Who may use the workspace."""
    records = await members.list_in_workspace(workspace_id=workspace.id)
    return MemberList(items=[_member(record) for record in records])


async def set_member(
    *,
    members: MemberRepository,
    roles: RoleCache,
    workspace: WorkspaceRecord,
    subject: str,
    data: MemberUpdate,
) -> Member:
    """Add a user to a workspace, or change their role."""
    if not subject or len(subject) > SUBJECT_MAX or subject.startswith("apikey:"):
        raise InvalidInput("subject must name a user", code="INVALID_SUBJECT")
    current = await members.get(workspace_id=workspace.id, subject=subject)
    if current and current.role == "owner" and data.role != "owner":
        await _keep_an_owner(members=members, workspace_id=workspace.id, leaving=subject)
    record = MemberRecord(
        workspace_id=workspace.id,
        subject=subject,
        role=data.role,
        joined_at=current.joined_at if current else now_iso(),
    )
    await members.put(member=record)
    roles.forget(workspace.id, subject)
    return _member(record)


async def remove_member(
    *, members: MemberRepository, roles: RoleCache, workspace: WorkspaceRecord, subject: str
) -> None:
    current = await members.get(workspace_id=workspace.id, subject=subject)
    if current is None:
        return
    if current.role == "owner":
        await _keep_an_owner(members=members, workspace_id=workspace.id, leaving=subject)
    await members.remove(workspace_id=workspace.id, subject=subject)
    roles.forget(workspace.id, subject)


async def _keep_an_owner(*, members: MemberRepository, workspace_id: str, leaving: str) -> None:
    owners = [
        m.subject
        for m in await members.list_in_workspace(workspace_id=workspace_id)
        if m.role == "owner"
    ]
    if owners == [leaving]:
        raise Conflict("A workspace keeps at least one owner", code="LAST_OWNER")


async def create_api_key(
    *, keys: ApiKeyRepository, workspace: WorkspaceRecord, caller: Principal, data: ApiKeyCreate
) -> ApiKeyCreated:
    """A new key for the workspace; the only time its secret is shown."""
    if caller.is_key:
        raise Forbidden("API keys cannot create API keys", code="FORBIDDEN")
    key_id, full, secret_hash = api_keys.new_key()
    record = ApiKeyRecord(
        id=key_id,
        workspace_id=workspace.id,
        name=data.name,
        created_at=now_iso(),
        created_by=caller.subject,
        secret_hash=secret_hash,
    )
    await keys.create(record=record)
    return ApiKeyCreated(key=full, **_api_key(record).model_dump())


async def list_api_keys(*, keys: ApiKeyRepository, workspace: WorkspaceRecord) -> ApiKeyList:
    """The workspace's keys (never their secrets)."""
    records = await keys.list_in_workspace(workspace_id=workspace.id)
    return ApiKeyList(items=[_api_key(record) for record in records])


async def revoke_api_key(
    *, keys: ApiKeyRepository, workspace: WorkspaceRecord, key_id: str
) -> None:
    """Revoke a key: it is refused from now on."""
    if not is_id(key_id):
        raise NotFound(f"API key {key_id} not found", code="API_KEY_NOT_FOUND")
    await keys.delete(workspace_id=workspace.id, key_id=key_id)

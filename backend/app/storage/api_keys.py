"""API key items (`APIKEY#{key_id}`): metadata and the secret's hash, never the secret."""

from app.auth.models import ApiKeyRecord
from app.errors import Conflict, NotFound
from app.storage import keys
from app.storage.repository import Repository


class ApiKeyRepository(Repository[ApiKeyRecord]):
    model = ApiKeyRecord
    item_type = "ApiKey"

    async def create(self, *, record: ApiKeyRecord) -> None:
        item_keys = {
            **keys.api_key_key(record.workspace_id, record.id),
            keys.ENTITY_ID: keys.api_key_entity_id(record.id),
        }
        exists = Conflict(f"API key {record.id} already exists", code="API_KEY_EXISTS")
        await self._put_new(record, item_keys, exists=exists)

    async def get(self, *, key_id: str) -> ApiKeyRecord | None:
        return await self._by_entity_id(keys.api_key_entity_id(key_id))

    async def list_in_workspace(self, *, workspace_id: str) -> list[ApiKeyRecord]:
        return await self._all(pk=keys.workspace_pk(workspace_id), prefix=keys.API_KEY_PREFIX)

    async def delete(self, *, workspace_id: str, key_id: str) -> None:
        missing = NotFound(f"API key {key_id} not found", code="API_KEY_NOT_FOUND")
        await self._delete(keys.api_key_key(workspace_id, key_id), missing=missing)

"""Every DynamoDB key and index key of the single table is built here, and only here.

Item layout (SPEC §3), all in partition `WS#{workspace_id}`:

| item            | SK                  | index keys                                   |
|-----------------|---------------------|----------------------------------------------|
| workspace       | `META`              |                                              |
| member          | `MEMBER#{subject}`  | ListIndex: `USER#{subject}` / `{joined}#{id}` |
| API key         | `APIKEY#{key_id}`   | IdIndex: `APIKEY#{key_id}`                   |
| rate window     | `RATE#{minute}`     | (task creations per minute; expires via TTL) |
| function        | `FN#{function_id}`  | IdIndex: `FN#{function_id}`                  |
| function name   | `FNNAME#{name}`     | (guard item: names are unique per workspace) |
| build task      | `BUILD#{task_id}`   | IdIndex: `TASK#{task_id}`; DueIndex while active |
| idempotency key | `IDEM#{sha256(key)}`| (expires through the `ttl` attribute)        |
"""

import hashlib

# Attribute names of keys and index keys.
PK = "PK"
SK = "SK"
ENTITY_ID = "EntityId"
LIST_PK = "ListPK"
LIST_SK = "ListSK"
DUE_SHARD = "DueShard"
DUE_AT = "DueAt"
TTL = "ttl"

# Secondary indexes (declared in backend/app/storage/schema.py and the CloudFormation template).
ID_INDEX = "IdIndex"
LIST_INDEX = "ListIndex"
DUE_INDEX = "DueIndex"

# Active tasks are spread over a few index partitions so that no single one gets hot.
DUE_SHARDS = 8

META = "META"
FUNCTION_PREFIX = "FN#"
FUNCTION_NAME_PREFIX = "FNNAME#"
TASK_PREFIX = "BUILD#"
IDEMPOTENCY_PREFIX = "IDEM#"
MEMBER_PREFIX = "MEMBER#"
API_KEY_PREFIX = "APIKEY#"


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def workspace_key(workspace_id: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: META}


def member_key(workspace_id: str, subject: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{MEMBER_PREFIX}{subject}"}


def member_list_keys(*, subject: str, joined_at: str, workspace_id: str) -> dict[str, str]:
    return {LIST_PK: user_list_pk(subject), LIST_SK: f"{joined_at}#{workspace_id}"}


def user_list_pk(subject: str) -> str:
    return f"USER#{subject}"


def api_key_key(workspace_id: str, key_id: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{API_KEY_PREFIX}{key_id}"}


def api_key_entity_id(key_id: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}"


def rate_key(workspace_id: str, minute: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"RATE#{minute}"}


def function_key(workspace_id: str, function_id: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{FUNCTION_PREFIX}{function_id}"}


def function_entity_id(function_id: str) -> str:
    return f"{FUNCTION_PREFIX}{function_id}"


def function_name_key(workspace_id: str, name: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{FUNCTION_NAME_PREFIX}{name}"}


def task_key(workspace_id: str, task_id: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{TASK_PREFIX}{task_id}"}


def task_entity_id(task_id: str) -> str:
    return f"TASK#{task_id}"


def due_shard(task_id: str) -> str:
    digest = hashlib.blake2b(task_id.encode(), digest_size=2).digest()
    return f"DUE#{int.from_bytes(digest, 'big') % DUE_SHARDS}"


def all_due_shards() -> list[str]:
    return [f"DUE#{n}" for n in range(DUE_SHARDS)]


def idempotency_key(workspace_id: str, key: str) -> dict[str, str]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {PK: workspace_pk(workspace_id), SK: f"{IDEMPOTENCY_PREFIX}{digest}"}


# S3: uploaded sources live at build-sources/{workspace_id}/{task_id}/{filename} (SPEC §3).
SOURCES_PREFIX = "build-sources/"


def parse_source_key(key: str) -> tuple[str, str] | None:
    """(workspace_id, task_id) of a source object's key, or None for any other key."""
    parts = key.removeprefix(SOURCES_PREFIX).split("/")
    if not key.startswith(SOURCES_PREFIX) or len(parts) < 3 or not all(parts[:3]):
        return None
    return parts[0], parts[1]

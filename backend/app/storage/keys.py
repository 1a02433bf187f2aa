"""Every DynamoDB key and index key, and every S3 object path, is built and parsed here only.

Item layout (SPEC §3), all in partition `WS#{workspace_id}`:

| item            | SK                  | index keys                                   |
|-----------------|---------------------|----------------------------------------------|
| workspace       | `META`              |                                              |
| member          | `MEMBER#{subject}`  | ListIndex: `USER#{subject}` / `{joined}#{id}` |
| API key         | `APIKEY#{key_id}`   | IdIndex: `APIKEY#{key_id}`                   |
| rate window     | `RATE#{minute}`     | (task creations per minute; expires via TTL) |
| function        | `FN#{function_id}`  | IdIndex: `FN#{function_id}`                  |
| function name   | `FNNAME#{name}`     | (guard item: names are unique per workspace) |
| revision        | `REV#{function_id}#{n:08d}` | (a function's deploys, immutable; newest last) |
| invocation stats| `FNSTATS#{function_id}` | (counters and a duration histogram, ADDed) |
| build task      | `BUILD#{task_id}`   | IdIndex: `TASK#{task_id}`; DueIndex while active |
| idempotency key | `IDEM#{sha256(key)}`| (expires through the `ttl` attribute)        |

S3 objects (SPEC §3), all in the functions bucket:

| object          | key                                               | written by            |
|-----------------|---------------------------------------------------|-----------------------|
| uploaded source | `build-sources/{workspace_id}/{task_id}/{filename}` | the backend (upload) |
| build output    | `build-artifacts/{task_id}/{app_name}.wasm`       | the build service     |
| build log       | `build-logs/{task_id}/build.log`                  | the build service     |
| manifest        | `manifests/{task_id}/{app_name}.yaml`             | the scaffold service  |

Everything of one task lives under `task_prefixes(workspace_id, task_id)`: deleting a function
deletes those of its tasks, and nothing else.

The backend names every target in the job request it sends; the service never derives one.

Where a workspace's functions run and live in the registry (docs/deploying.md, "Tenancy"):

| what                 | name                                             |
|----------------------|--------------------------------------------------|
| cluster namespace    | `{DEPLOY_NAMESPACE_PREFIX}{short id}` (`faas-01j…`) |
| registry repository  | `{ECR_REPOSITORY}/{short id}/{app_name}`         |
"""

import hashlib
import re
from typing import Any, NamedTuple

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
FUNCTION_STATS_PREFIX = "FNSTATS#"
TASK_PREFIX = "BUILD#"
IDEMPOTENCY_PREFIX = "IDEM#"
MEMBER_PREFIX = "MEMBER#"
API_KEY_PREFIX = "APIKEY#"
REVISION_PREFIX = "REV#"


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


def revision_key(workspace_id: str, function_id: str, number: int) -> dict[str, str]:
    """A function's revision `number`; zero-padded so that sort order is number order."""
    return {PK: workspace_pk(workspace_id), SK: f"{function_revisions(function_id)}{number:08d}"}


def function_revisions(function_id: str) -> str:
    """The sort-key prefix of every revision of a function (not a prefix of any other's)."""
    return f"{REVISION_PREFIX}{function_id}#"


def function_stats_key(workspace_id: str, function_id: str) -> dict[str, str]:
    """A function's invocation figures (app.storage.invocation_stats)."""
    return {PK: workspace_pk(workspace_id), SK: f"{FUNCTION_STATS_PREFIX}{function_id}"}


def task_key(workspace_id: str, task_id: str) -> dict[str, str]:
    return {PK: workspace_pk(workspace_id), SK: f"{TASK_PREFIX}{task_id}"}


class TaskKey(NamedTuple):
    workspace_id: str
    task_id: str


class DueKey(TaskKey):
    """A TaskKey read from DueIndex, which also says when the task was due (epoch ms; not part
    of the key's equality)."""

    due_at_ms: int | None = None


def parse_task_key(item: dict[str, Any]) -> TaskKey:
    """The (workspace, task) of a BuildTask item's or index entry's PK/SK."""
    pk, sk = item[PK]["S"], item[SK]["S"]
    return TaskKey(pk.removeprefix("WS#"), sk.removeprefix(TASK_PREFIX))


def parse_due_key(item: dict[str, Any]) -> DueKey:
    """The task key of a DueIndex entry, with its due time."""
    key = DueKey(*parse_task_key(item))
    due = item.get(DUE_AT, {}).get("N")
    key.due_at_ms = int(due) if due is not None else None
    return key


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


def workspace_short_id(workspace_id: str) -> str:
    """The workspace's id as a DNS label part: unique per workspace, at most 26 characters.

    A workspace id made by `app.ids.new_id` (26 lower-case Crockford base32 characters) is
    used whole: the map is injective, so two workspaces never share a name, with no lookup
    and no table of names to keep. Any other id (none is made today) is hashed: `x` and 20
    base32 characters of a 100-bit BLAKE2b digest — a different length, so the two forms
    cannot meet either.
    """
    if _ULID.fullmatch(workspace_id):
        return workspace_id
    digest = int.from_bytes(hashlib.blake2b(workspace_id.encode(), digest_size=13).digest())
    chars = []
    for _ in range(20):
        digest, index = divmod(digest, 32)
        chars.append(_BASE32[index])
    return "x" + "".join(chars)


def workspace_namespace(workspace_id: str, prefix: str) -> str:
    """The cluster namespace of a workspace's functions (`faas-<short id>`, a DNS label)."""
    return f"{prefix}{workspace_short_id(workspace_id)}"


def workspace_repository_prefix(workspace_id: str, base: str) -> str:
    """The registry path under which every image of a workspace is pushed (`base/<short>/`)."""
    return f"{base.strip('/')}/{workspace_short_id(workspace_id)}/"


def workspace_repository(workspace_id: str, base: str, app_name: str) -> str:
    """The repository of one function's images (`base/<short id>/<app_name>`)."""
    return workspace_repository_prefix(workspace_id, base) + app_name


_BASE32 = "0123456789abcdefghjkmnpqrstvwxyz"
_ULID = re.compile(f"[{_BASE32}]{{26}}")


def workspace_of(pk: str) -> str:
    """`WS#{workspace_id}` → workspace_id."""
    return pk.removeprefix("WS#")


# --- S3 object keys ----------------------------------------------------------------------

SOURCES_PREFIX = "build-sources/"
ARTIFACTS_PREFIX = "build-artifacts/"


def source_object(workspace_id: str, task_id: str, filename: str) -> str:
    return f"{SOURCES_PREFIX}{workspace_id}/{task_id}/{filename}"


def parse_source_key(key: str) -> tuple[str, str] | None:
    """(workspace_id, task_id) of a source object's key, or None for any other key."""
    parts = key.removeprefix(SOURCES_PREFIX).split("/")
    if not key.startswith(SOURCES_PREFIX) or len(parts) < 3 or not all(parts[:3]):
        return None
    return parts[0], parts[1]


def workspace_sources(workspace_id: str) -> str:
    """The prefix of every source uploaded to a workspace."""
    return f"{SOURCES_PREFIX}{workspace_id}/"


def artifact_object(task_id: str, app_name: str) -> str:
    return f"{ARTIFACTS_PREFIX}{task_id}/{app_name}.wasm"


def build_log_object(task_id: str) -> str:
    return f"build-logs/{task_id}/build.log"


def manifest_object(task_id: str, app_name: str) -> str:
    return f"manifests/{task_id}/{app_name}.yaml"


def task_prefixes(workspace_id: str, task_id: str) -> list[str]:
    """The S3 prefixes that hold everything of one task: source, artifact, build log, manifest."""
    return [
        f"{SOURCES_PREFIX}{workspace_id}/{task_id}/",
        f"{ARTIFACTS_PREFIX}{task_id}/",
        f"build-logs/{task_id}/",
        f"manifests/{task_id}/",
    ]


def own_object_key(bucket: str, uri: str | None) -> str | None:
    """The key of `uri` when it is one of our task objects in `bucket`, else None."""
    if not uri or ".." in uri:
        return None
    try:
        in_bucket, key = split_s3_uri(uri)
    except ValueError:
        return None
    own = (SOURCES_PREFIX, ARTIFACTS_PREFIX, "build-logs/", "manifests/")
    return key if in_bucket == bucket and key.startswith(own) else None


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3:// uri: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def is_artifact_uri(bucket: str, uri: str) -> bool:
    """Whether `uri` names a build output in `bucket` (and nothing outside it)."""
    return uri.startswith(s3_uri(bucket, ARTIFACTS_PREFIX)) and ".." not in uri


def artifact_task_id(bucket: str, uri: str) -> str | None:
    """The task id of a build output's uri (`…/build-artifacts/{task_id}/…`), else None."""
    if not is_artifact_uri(bucket, uri):
        return None
    task_id, _, rest = uri.removeprefix(s3_uri(bucket, ARTIFACTS_PREFIX)).partition("/")
    return task_id if task_id and rest else None

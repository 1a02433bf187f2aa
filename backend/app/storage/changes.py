"""The table's change stream (DynamoDB Streams, NEW_IMAGE): shards, iterators, typed changes.

Reads only. Every write to a task (`BUILD#…`) or function (`FN#…`) item appears here once,
with the item as written, so a reader learns of a change without reading the table. The stream
is declared with the table (app.storage.schema, the CloudFormation template); `arn()` is None
for a table created without one.
"""

import logging
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from app.aws import error_code
from app.errors import ServiceUnavailable
from app.functions.models import FunctionRecord
from app.storage import keys
from app.storage.dynamo import from_item
from app.tasks.models import Task

log = logging.getLogger(__name__)

RECORDS_PER_READ = 1000
IteratorType = Literal["LATEST", "TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"]


@dataclass(frozen=True)
class ItemChange:
    """One write to a task or function item, as the stream reports it."""

    kind: Literal["task", "function", "workspace"]
    workspace_id: str
    entity_id: str  # the task's or function's id
    task: Task | None = None  # the task as written (kind "task", not removed)
    function: FunctionRecord | None = None  # the function as written (kind "function")
    removed: bool = False


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    closed: bool


class StreamGone(Exception):
    """The stream or a shard iterator is no longer valid (trimmed, expired, table re-created)."""


class ChangeStream:
    """The DynamoDB stream of the backend's table."""

    def __init__(self, *, dynamodb: Any, streams: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._table = table

    async def arn(self) -> str | None:
        """The table's current stream, or None when the table has none."""
        try:
            response = await self._dynamodb.describe_table(TableName=self._table)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        table = response["Table"]
        enabled = table.get("StreamSpecification", {}).get("StreamEnabled", False)
        arn = table.get("LatestStreamArn")
        return str(arn) if enabled and arn else None

    async def shards(self, arn: str) -> list[Shard]:
        """Every shard the stream holds now (open and recently closed)."""
        shards: list[Shard] = []
        start: str | None = None
        while True:
            request: dict[str, Any] = {"StreamArn": arn}
            if start:
                request["ExclusiveStartShardId"] = start
            try:
                response = await self._streams.describe_stream(**request)
            except (ClientError, BotoCoreError) as exc:
                raise _gone_or_unavailable(exc) from exc
            description = response["StreamDescription"]
            for shard in description.get("Shards", []):
                shards.append(
                    Shard(
                        shard_id=shard["ShardId"],
                        parent_id=shard.get("ParentShardId"),
                        closed="EndingSequenceNumber" in shard.get("SequenceNumberRange", {}),
                    )
                )
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    async def iterator(
        self, *, arn: str, shard_id: str, kind: IteratorType, after: str | None = None
    ) -> str | None:
        """An iterator into `shard_id` (None when the shard is gone)."""
        request: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if after is not None:
            request["SequenceNumber"] = after
        try:
            response = await self._streams.get_shard_iterator(**request)
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise _gone_or_unavailable(exc) from exc
        value = response.get("ShardIterator")
        return str(value) if value else None

    async def records(self, iterator: str) -> tuple[list[ItemChange], str | None, str | None]:
        """The changes at `iterator`, the next iterator (None: the shard closed) and the last
        sequence number read (None when there were no records)."""
        try:
            response = await self._streams.get_records(
                ShardIterator=iterator, Limit=RECORDS_PER_READ
            )
        except (ClientError, BotoCoreError) as exc:
            raise _gone_or_unavailable(exc) from exc
        changes: list[ItemChange] = []
        last: str | None = None
        for record in response.get("Records", []):
            data = record.get("dynamodb", {})
            last = data.get("SequenceNumber", last)
            change = _change(record.get("eventName", ""), data)
            if change is not None:
                changes.append(change)
        following = response.get("NextShardIterator")
        return changes, (str(following) if following else None), last


def _change(event: str, data: dict[str, Any]) -> ItemChange | None:
    """The typed change of one stream record, or None for items nobody watches."""
    item_keys = data.get("Keys", {})
    pk, sk = item_keys.get(keys.PK, {}).get("S", ""), item_keys.get(keys.SK, {}).get("S", "")
    workspace_id = keys.workspace_of(pk)
    removed = event == "REMOVE"
    image = _repaired(data["NewImage"]) if data.get("NewImage") else None
    if sk == keys.META:
        # Only a workspace's removal matters to the streams (its streams end).
        if not removed:
            return None
        return ItemChange("workspace", workspace_id, workspace_id, removed=True)
    if sk.startswith(keys.TASK_PREFIX):
        task_id = sk.removeprefix(keys.TASK_PREFIX)
        if removed or not image:
            return ItemChange("task", workspace_id, task_id, removed=True)
        try:
            task = Task.model_validate(from_item(image))
        except ValueError:  # an item this version cannot read: nothing to show of it
            log.warning("stream: unreadable task item %s", task_id)
            return None
        return ItemChange("task", workspace_id, task_id, task=task)
    if sk.startswith(keys.FUNCTION_PREFIX):
        function_id = sk.removeprefix(keys.FUNCTION_PREFIX)
        if removed or not image:
            return ItemChange("function", workspace_id, function_id, removed=True)
        try:
            function = FunctionRecord.model_validate(from_item(image))
        except ValueError:
            log.warning("stream: unreadable function item %s", function_id)
            return None
        return ItemChange("function", workspace_id, function_id, function=function)
    return None


def _repaired(image: dict[str, Any]) -> dict[str, Any]:
    """The image with every attribute value typed: DynamoDB Local's stream records carry an
    empty map as `{}` instead of `{"M": {}}`."""

    def value(attribute: Any) -> Any:
        if attribute == {}:
            return {"M": {}}
        if isinstance(attribute, dict) and len(attribute) == 1:
            ((kind, inner),) = attribute.items()
            if kind == "M" and isinstance(inner, dict):
                return {"M": {name: value(item) for name, item in inner.items()}}
            if kind == "L" and isinstance(inner, list):
                return {"L": [value(item) for item in inner]}
        return attribute

    return {name: value(attribute) for name, attribute in image.items()}


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        "The table's change stream cannot be read right now", code="EVENTS_UNAVAILABLE"
    )


def _gone_or_unavailable(exc: BaseException) -> Exception:
    if error_code(exc) in {"ExpiredIteratorException", "TrimmedDataAccessException"}:
        return StreamGone(error_code(exc))
    if error_code(exc) == "ResourceNotFoundException":
        return StreamGone("ResourceNotFoundException")
    return _unavailable(exc)

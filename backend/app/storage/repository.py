"""The small base of every repository: get, page and conditional update of one item type.

Each repository reads and writes one typed record model. Nothing is written that the same
model would refuse to read back: a record (or an update merged into the current one) is
validated through the read model and its item measured against DynamoDB's 400 KB limit
before any write. AWS errors become domain errors in `app.errors.storage_error`.
"""

import functools
import logging
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Generic, TypeVar, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.errors import DomainError, PayloadTooLarge, Unprocessable, storage_error
from app.storage import keys
from app.storage.dynamo import (
    MAX_ITEM_BYTES,
    Item,
    Page,
    decode_token,
    encode_token,
    from_item,
    item_size,
    to_item,
    to_value,
)
from contract.problems import field_errors

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """`data` as `model` reads it, or 422: the item would not be readable."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        log.warning("refused to store a %s its reader rejects: %s", model.__name__, errors)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise Unprocessable(
            f"The request would store an invalid {model.__name__}: {fields}",
            code="VALIDATION_ERROR",
            errors=errors,
        ) from exc


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:  # the field's constraints (Field(ge=…), StringConstraints…)
        annotation = cast(Any, Annotated)[annotation, *info.metadata]
    return TypeAdapter(annotation)


def validated_changes(model: type[BaseModel], changes: Mapping[str, Any]) -> None:
    """Refuse (422) changes to fields `model` does not have, or values it would not read."""
    for name, value in changes.items():
        if name not in model.model_fields:
            raise Unprocessable(f"{model.__name__} has no field {name!r}", code="VALIDATION_ERROR")
        try:
            _field_adapter(model, name).validate_python(value)
        except ValidationError as exc:
            log.warning("refused to store %s.%s = %r", model.__name__, name, value)
            raise Unprocessable(
                f"The request would store an invalid {model.__name__}: {name}",
                code="VALIDATION_ERROR",
                errors=field_errors(
                    [{**e, "loc": ("body", name, *e["loc"])} for e in exc.errors()]
                ),
            ) from exc


def checked_size(item: Item) -> Item:
    """`item` if DynamoDB can store it, else 413 naming the limit."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise PayloadTooLarge(
            f"The record would take {size} bytes; storage holds at most {MAX_ITEM_BYTES}",
            code="ITEM_TOO_LARGE",
            limit_bytes=MAX_ITEM_BYTES,
        )
    return item


def record_item(record: BaseModel, item_keys: Mapping[str, Any]) -> Item:
    """The item that stores `record` under `item_keys`, refused unless it reads back."""
    data = record.model_dump(mode="json", exclude_none=True)
    validated(type(record), data)  # a model_copy(update=…) is not validated: do it here
    return checked_size(to_item({**item_keys, **data}))


class Repository(Generic[M]):
    """Reads and writes records of `model`, items of type `item_type`."""

    model: ClassVar[type[Any]]
    item_type: ClassVar[str]

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # -- conversions ---------------------------------------------------------------------

    def _read(self, item: Item, leave_out: frozenset[str] = frozenset()) -> M:
        """The record of `item`; attributes in `leave_out` are not parsed (their fields take
        their defaults: for a reader that does not need them, e.g. a long log)."""
        if leave_out:
            item = {name: value for name, value in item.items() if name not in leave_out}
        record: M = self.model.model_validate(from_item(item))
        return record

    def _item(self, record: M, item_keys: Mapping[str, Any]) -> Item:
        return record_item(record, {**item_keys, "Type": self.item_type})

    # -- reads ---------------------------------------------------------------------------

    async def _get(
        self,
        key: Mapping[str, str],
        *,
        consistent: bool = True,
        leave_out: frozenset[str] = frozenset(),
    ) -> M | None:
        try:
            response = await self._client.get_item(
                TableName=self._table, Key=to_item(dict(key)), ConsistentRead=consistent
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        item = response.get("Item")
        return self._read(item, leave_out) if item else None

    async def _by_entity_id(
        self, entity_id: str, *, leave_out: frozenset[str] = frozenset()
    ) -> M | None:
        """The item whose IdIndex key is `entity_id` (an id alone finds its item)."""
        try:
            response = await self._client.query(
                TableName=self._table,
                IndexName=keys.ID_INDEX,
                KeyConditionExpression="#id = :id",
                ExpressionAttributeNames={"#id": keys.ENTITY_ID},
                ExpressionAttributeValues={":id": to_value(entity_id)},
                Limit=1,
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        items = response.get("Items", [])
        return self._read(items[0], leave_out) if items else None

    async def _page(
        self, *, pk: str, prefix: str, limit: int, next_token: str | None, **request: Any
    ) -> Page[M]:
        """One page of partition `pk`'s items whose sort key starts with `prefix`."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "Limit": limit,
            **request,
        }
        query["ExpressionAttributeValues"] = {
            ":pk": to_value(pk),
            ":prefix": to_value(prefix),
            **request.get("ExpressionAttributeValues", {}),
        }
        return await self._query_page(query, next_token=next_token, expected={keys.PK: pk})

    async def _query_page(
        self, query: dict[str, Any], *, next_token: str | None, expected: dict[str, str]
    ) -> Page[M]:
        """One page of a Query, from where `next_token` (minted for `expected`) left off."""
        start = decode_token(next_token, expected=expected)
        if start:
            query["ExclusiveStartKey"] = start
        try:
            response = await self._client.query(**query)
        except ClientError as exc:
            raise storage_error(exc) from exc
        return Page(
            items=[self._read(item) for item in response.get("Items", [])],
            next_token=encode_token(response.get("LastEvaluatedKey")),
        )

    async def _all(self, *, pk: str, prefix: str) -> list[M]:
        """Every item of partition `pk` whose sort key starts with `prefix` (all pages)."""
        records: list[M] = []
        token: str | None = None
        while True:
            page = await self._page(pk=pk, prefix=prefix, limit=1000, next_token=token)
            records.extend(page.items)
            if page.next_token is None:
                return records
            token = page.next_token

    # -- writes --------------------------------------------------------------------------

    async def _put_new(self, record: M, item_keys: Mapping[str, Any], *, exists: DomainError) -> M:
        """Write a record that must not exist yet (`exists` otherwise)."""
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=self._item(record, item_keys),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            raise storage_error(exc, on_condition=exists) from exc
        return record

    async def _update(
        self,
        key: Mapping[str, str],
        *,
        current: M,
        changes: Mapping[str, Any],
        missing: DomainError,
        extra_keys: Mapping[str, Any] | None = None,
    ) -> M:
        """Apply `changes` to an existing item (`missing` if it is gone); the new record.

        The changes are merged into `current` and the result validated and measured first;
        a change to None removes the attribute.
        """
        merged = validated(self.model, {**current.model_dump(mode="json"), **changes})
        checked_size(to_item({**(extra_keys or {}), **dict(key), **merged.model_dump(mode="json")}))
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        values = {
            f":v{i}": to_value(value)
            for i, value in enumerate(changes.values())
            if value is not None
        }
        sets = [f"#f{i} = :v{i}" for i in range(len(changes)) if f":v{i}" in values]
        removes = [f"#f{i}" for i in range(len(changes)) if f":v{i}" not in values]
        expression = (f"SET {', '.join(sets)} " if sets else "") + (
            f"REMOVE {', '.join(removes)}" if removes else ""
        )
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item(dict(key)),
            "UpdateExpression": expression.strip(),
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            response = await self._client.update_item(**request)
        except ClientError as exc:
            raise storage_error(exc, on_condition=missing) from exc
        return self._read(response["Attributes"])

    async def _delete(self, key: Mapping[str, str], *, missing: DomainError | None) -> None:
        """Delete an item; with `missing`, it must exist."""
        request: dict[str, Any] = {"TableName": self._table, "Key": to_item(dict(key))}
        if missing is not None:
            request["ConditionExpression"] = "attribute_exists(PK)"
        try:
            await self._client.delete_item(**request)
        except ClientError as exc:
            raise storage_error(exc, on_condition=missing) from exc

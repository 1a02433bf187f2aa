"""Conversions between Python values and DynamoDB's typed JSON, and opaque page tokens."""

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from app.errors import InvalidInput
from app.storage import keys

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(item) for item in value]
    return value


def _dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _dynamo_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo_value(item) for item in value]
    return value


def to_item(record: dict[str, Any]) -> dict[str, Any]:
    """Python dict → DynamoDB item; `None` values are left out."""
    return {
        key: _serializer.serialize(_dynamo_value(value))
        for key, value in record.items()
        if value is not None
    }


def to_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_dynamo_value(value))


def _from_value(value: dict[str, Any]) -> Any:
    # A direct walk of DynamoDB's typed JSON: several times faster than TypeDeserializer plus
    # a Decimal → int/float pass, and this runs on every item of every read.
    ((kind, data),) = value.items()
    if kind == "S" or kind == "BOOL" or kind == "B":
        return data
    if kind == "N":
        return int(data) if data.lstrip("-").isdigit() else float(data)
    if kind == "M":
        return {key: _from_value(item) for key, item in data.items()}
    if kind == "L":
        return [_from_value(item) for item in data]
    if kind == "NULL":
        return None
    return _plain(_deserializer.deserialize(value))  # sets: rare, never on a hot path


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB item → Python dict with ints and floats instead of Decimals."""
    return {key: _from_value(value) for key, value in item.items()}


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


def encode_token(last_key: dict[str, Any] | None) -> str | None:
    """LastEvaluatedKey → an opaque, URL-safe token."""
    if not last_key:
        return None
    raw = json.dumps(from_item(last_key), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str | None, *, expected: dict[str, str]) -> dict[str, Any] | None:
    """An opaque token → ExclusiveStartKey, refusing one minted for another listing."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "next_token is not a token this API issued", code="INVALID_NEXT_TOKEN"
        ) from exc
    if not isinstance(key, dict) or any(key.get(name) != value for name, value in expected.items()):
        raise InvalidInput("next_token does not belong to this listing", code="INVALID_NEXT_TOKEN")
    if not all(isinstance(value, str | int) for value in key.values()):
        raise InvalidInput("next_token is not a token this API issued", code="INVALID_NEXT_TOKEN")
    return to_item(key)


def set_expression(changes: dict[str, Any]) -> dict[str, Any]:
    """UpdateItem arguments that SET each of `changes` (names and values as placeholders)."""
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": to_value(value) for i, value in enumerate(changes.values())}
    assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
    return {
        "UpdateExpression": f"SET {assignments}",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


async def get_by_entity_id(
    client: Any, table: str, entity_id: str, *, attributes: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The item whose IdIndex key is `entity_id` (an id alone finds its item), or None.

    With `attributes`, only those are read (less to send, parse and convert).
    """
    names = {"#id": keys.ENTITY_ID}
    request: dict[str, Any] = {}
    if attributes:
        names |= {f"#a{i}": name for i, name in enumerate(attributes)}
        request["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
    response = await client.query(
        TableName=table,
        IndexName=keys.ID_INDEX,
        KeyConditionExpression="#id = :id",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":id": to_value(entity_id)},
        Limit=1,
        **request,
    )
    items = response.get("Items", [])
    return items[0] if items else None


async def query_partition_prefix(
    client: Any, table: str, *, pk: str, prefix: str
) -> list[dict[str, Any]]:
    """Every item of partition `pk` whose sort key starts with `prefix` (all pages)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": {":pk": to_value(pk), ":prefix": to_value(prefix)},
    }
    items: list[dict[str, Any]] = []
    while True:
        response = await client.query(**request)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

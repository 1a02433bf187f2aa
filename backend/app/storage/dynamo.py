"""Conversions between Python values and DynamoDB's typed JSON, item sizes, and page tokens."""

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from app.errors import InvalidInput

Item = dict[str, Any]  # a DynamoDB item in its typed-JSON form: {"name": {"S": "…"}}
T = TypeVar("T")

# DynamoDB refuses larger items (names and values together, in UTF-8).
MAX_ITEM_BYTES: Final = 400 * 1024

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


def to_item(record: dict[str, Any]) -> Item:
    """Python dict → DynamoDB item; `None` values are left out."""
    return {
        key: _serializer.serialize(_dynamo_value(value))
        for key, value in record.items()
        if value is not None
    }


def to_value(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _serializer.serialize(_dynamo_value(value))
    return serialized


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


def from_item(item: Item) -> dict[str, Any]:
    """DynamoDB item → Python dict with ints and floats instead of Decimals."""
    return {key: _from_value(value) for key, value in item.items()}


def _value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind in ("S", "N"):
        return len(str(data).encode())
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    return sum(len(str(member).encode()) for member in data)  # sets


def item_size(item: Item) -> int:
    """DynamoDB's size of an item (an upper bound: numbers are counted by their digits)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


def encode_token(last_key: Item | None) -> str | None:
    """LastEvaluatedKey → an opaque, URL-safe token."""
    if not last_key:
        return None
    raw = json.dumps(from_item(last_key), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str | None, *, expected: dict[str, str]) -> Item | None:
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

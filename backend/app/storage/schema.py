"""The table the backend needs: keys, secondary indexes and TTL.

`make run` and the tests create the table from this definition; the CloudFormation template in
`infra/cloudformation/` declares the same, and a test fails if the two drift.
"""

from typing import Any

from app.storage import keys


def _gsi(
    name: str, hash_key: str, range_key: str | None, projection: dict[str, Any]
) -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": projection}


ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": keys.PK, "AttributeType": "S"},
    {"AttributeName": keys.SK, "AttributeType": "S"},
    {"AttributeName": keys.ENTITY_ID, "AttributeType": "S"},
    {"AttributeName": keys.LIST_PK, "AttributeType": "S"},
    {"AttributeName": keys.LIST_SK, "AttributeType": "S"},
    {"AttributeName": keys.DUE_SHARD, "AttributeType": "S"},
    {"AttributeName": keys.DUE_AT, "AttributeType": "N"},
]

KEY_SCHEMA = [
    {"AttributeName": keys.PK, "KeyType": "HASH"},
    {"AttributeName": keys.SK, "KeyType": "RANGE"},
]

GLOBAL_SECONDARY_INDEXES = [
    # GET /api/functions/{id}, GET /api/v1/tasks/{id}: the whole item, in one Query.
    _gsi(keys.ID_INDEX, keys.ENTITY_ID, None, {"ProjectionType": "ALL"}),
    # GET /api/workspaces: a caller's workspaces in creation order.
    _gsi(keys.LIST_INDEX, keys.LIST_PK, keys.LIST_SK, {"ProjectionType": "ALL"}),
    # The pollers: active tasks whose next step is due. Sparse: only active tasks carry the keys.
    _gsi(keys.DUE_INDEX, keys.DUE_SHARD, keys.DUE_AT, {"ProjectionType": "KEYS_ONLY"}),
]


# The change feed of the live event streams (app.events): every write, with the item as written.
STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def create_table_request(table_name: str) -> dict[str, Any]:
    """The CreateTable request for the backend's table (on-demand capacity, with its stream)."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
        "KeySchema": KEY_SCHEMA,
        "GlobalSecondaryIndexes": GLOBAL_SECONDARY_INDEXES,
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": STREAM_SPECIFICATION,
    }


TTL_ATTRIBUTE = keys.TTL

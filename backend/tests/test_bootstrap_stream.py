"""The table's change stream (the live events' feed) is part of the table the bootstrap makes,
and is turned on for a table made before it had one."""

from app.bootstrap import ensure_table
from app.config import Settings
from app.storage.schema import create_table_request
from testing.dynamodb_local import client


def _stream_of(settings: Settings) -> dict:
    table = client(settings.dynamodb_endpoint).describe_table(TableName=settings.dynamodb_table)
    return table["Table"].get("StreamSpecification", {})


def test_a_new_table_has_its_stream_with_the_items_as_written(settings: Settings) -> None:
    assert _stream_of(settings) == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_a_table_made_without_a_stream_gets_one_and_keeps_its_keys(settings: Settings) -> None:
    dynamodb = client(settings.dynamodb_endpoint)
    dynamodb.delete_table(TableName=settings.dynamodb_table)
    request = create_table_request(settings.dynamodb_table)
    del request["StreamSpecification"]
    dynamodb.create_table(**request)
    assert not _stream_of(settings).get("StreamEnabled")

    assert ensure_table(settings) is False  # it existed: only the stream was added
    assert _stream_of(settings) == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    key_schema = dynamodb.describe_table(TableName=settings.dynamodb_table)["Table"]["KeySchema"]
    assert key_schema == request["KeySchema"]

"""Helpers of the hardening tests: a real uvicorn server on loopback, and what is stored."""

import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from app.api.http_protocol import BoundedHttpToolsProtocol
from app.aws import open_aws_clients
from app.config import Settings

# What `make run` and the Dockerfile pass to uvicorn's --http.
PROTOCOL = "app.api.http_protocol:BoundedHttpToolsProtocol"
StateReader = Callable[[], Awaitable[dict[str, Any]]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: FastAPI, *, http: Any = BoundedHttpToolsProtocol) -> Iterator[str]:
    """Serve `app` with uvicorn (lifespan on) on a free loopback port; yields its URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", http=http
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@asynccontextmanager
async def stored_state_reader(settings: Settings) -> AsyncIterator[StateReader]:
    """A reader of everything stored: every DynamoDB item, S3 object and unfinished upload."""
    async with open_aws_clients(settings) as aws:

        async def read() -> dict[str, Any]:
            items: list[dict[str, Any]] = []
            request: dict[str, Any] = {"TableName": settings.dynamodb_table, "ConsistentRead": True}
            while True:
                page = await aws.dynamodb.scan(**request)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            objects: dict[str, str] = {}
            paginator = aws.s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=settings.s3_bucket):
                objects |= {obj["Key"]: obj["ETag"] for obj in page.get("Contents", [])}
            uploads = await aws.s3.list_multipart_uploads(Bucket=settings.s3_bucket)
            return {
                "items": sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"])),
                "objects": objects,
                "uploads": [upload["Key"] for upload in uploads.get("Uploads", [])],
            }

        yield read


async def stored_state(settings: Settings) -> dict[str, Any]:
    """Everything stored right now (see stored_state_reader)."""
    async with stored_state_reader(settings) as read:
        return await read()

"""The floor of the status-polling benchmark: a bare FastAPI route doing one aioboto3 GetItem.

The same settings, session and client configuration as the backend (app.aws), the task's item
read by its primary key and returned as DynamoDB's typed JSON: what a status read cannot do
with less. `bench/polling.py` serves it with uvicorn, as the backend is served.

    uvicorn floor_app:app   (environment: the backend's)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.aws import aws_session, client_config
from app.config import get_settings
from app.storage import keys

settings = get_settings()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    session = aws_session(settings)
    async with session.client(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint, config=client_config(settings)
    ) as dynamodb:
        app.state.dynamodb = dynamodb
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/floor/{workspace_id}/{task_id}")
async def floor(workspace_id: str, task_id: str, request: Request) -> JSONResponse:
    key = keys.task_key(workspace_id, task_id)
    response = await request.app.state.dynamodb.get_item(
        TableName=settings.dynamodb_table,
        Key={name: {"S": value} for name, value in key.items()},
    )
    return JSONResponse(response.get("Item"), status_code=200 if "Item" in response else 404)

"""How storage errors reach a client: one translation, problem+json, no AWS text.

DynamoDB itself stands in for every case but the two it cannot be made to answer on demand
(a ValidationException, throttling): those come from a client whose `query` answers them, as
DynamoDB would, in place of the real call.
"""

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from botocore.exceptions import ClientError
from fastapi import FastAPI

from app.config import Settings
from app.errors import PayloadTooLarge, Unprocessable
from app.main import create_app
from tests.conftest import create_workspace

TASK_ID = "01hzzzzzzzzzzzzzzzzzzzzzzz"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _answer_query_with(app: FastAPI, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    async def query(**_: Any) -> dict[str, Any]:
        error = {"Error": {"Code": code, "Message": f"secret AWS detail: {code}"}}
        raise ClientError(error, "Query")  # type: ignore[arg-type]

    monkeypatch.setattr(app.state.container.aws.dynamodb, "query", query)


async def test_a_validation_exception_is_logged_as_a_bug_and_answered_500(
    app: FastAPI,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _answer_query_with(app, monkeypatch, "ValidationException")
    with caplog.at_level(logging.ERROR):
        response = await http.get(f"/api/v1/tasks/{TASK_ID}")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert "secret AWS detail" not in response.text
    assert any(
        record.levelno == logging.ERROR and "ValidationException" in record.getMessage()
        for record in caplog.records
    )


async def test_throttling_is_answered_503_storage_unavailable(
    app: FastAPI, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer_query_with(app, monkeypatch, "ProvisionedThroughputExceededException")
    response = await http.get(f"/api/v1/tasks/{TASK_ID}")
    assert response.status_code == 503
    assert response.json()["code"] == "STORAGE_UNAVAILABLE"
    assert response.headers["retry-after"] == "5"
    assert "secret AWS detail" not in response.text


async def test_an_update_the_reader_would_refuse_is_refused_and_nothing_is_stored(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    workspace = await create_workspace(http)
    repository = app.state.container.workspaces
    record = await repository.get(workspace_id=workspace["id"])
    # What a request model that let a null through would hand the storage layer.
    with pytest.raises(Unprocessable):
        await repository.update(workspace=record, changes={"name": None})
    with pytest.raises(Unprocessable):
        await repository.update(workspace=record, changes={"description": 42})
    assert (await http.get(f"/api/workspaces/{workspace['id']}")).json() == workspace
    listed = await http.get("/api/workspaces")
    assert listed.status_code == 200 and listed.json()["items"] == [workspace]


async def test_a_function_too_large_to_store_is_refused_with_413(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    workspace = await create_workspace(http)
    created = await http.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": "big"})
    function = await app.state.container.functions.get(function_id=created.json()["id"])
    variables = {f"v{i}": "x" * 4096 for i in range(120)}  # ~490 KB: over DynamoDB's 400 KB
    with pytest.raises(PayloadTooLarge):
        await app.state.container.functions.update(
            function=function, changes={"variables": variables}
        )
    assert (await http.get(f"/api/functions/{function.id}")).json() == created.json()

"""Every error answer is problem+json with the security headers, whichever layer gives it."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from app.storage.workspaces import WorkspaceRepository
from tests.conftest import with_overrides

ORIGIN = "http://localhost:5173"  # one of the default CORS origins


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    return body


async def test_a_refused_cors_preflight_is_a_problem(client: httpx.AsyncClient) -> None:
    answer = await client.options(
        "/api/workspaces",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    body = assert_problem(answer, 400, "CORS_REFUSED")
    assert "origin" in body["detail"]
    allowed = await client.options(
        "/api/workspaces", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["x-content-type-options"] == "nosniff"


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/nothing-here"), 404, "NOT_FOUND")
    refused = await client.put("/api/workspaces")
    assert_problem(refused, 405, "METHOD_NOT_ALLOWED")
    assert refused.headers["allow"] == "GET, POST"
    one = await client.post("/api/workspaces/01abc")
    assert_problem(one, 405, "METHOD_NOT_ALLOWED")
    assert one.headers["allow"] == "GET, PATCH, DELETE"


async def test_invalid_json_is_a_problem(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/workspaces", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    body = assert_problem(answer, 422, "VALIDATION_ERROR")
    # The body is named, not the character offset where the parser stopped ("field": "1").
    assert body["detail"] == "The request body is not valid JSON (at character 1)."
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("body", "json_invalid")]


@pytest.fixture
async def keyed_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(with_overrides(settings, auth_mode="api-key", admin_api_key="a" * 40))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as http,
    ):
        yield http


async def test_a_missing_credential_is_a_problem(keyed_client: httpx.AsyncClient) -> None:
    answer = await keyed_client.get("/api/workspaces")
    assert_problem(answer, 401, "MISSING_TOKEN")
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_an_unexpected_error_is_a_logged_500_problem_with_the_headers(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: WorkspaceRepository, **_: object) -> None:
        raise RuntimeError("a bug in our own code")

    # Stands in for a bug: the error is ours, not the emulator's.
    monkeypatch.setattr(WorkspaceRepository, "get_many", broken)
    answer = await client.get("/api/workspaces", headers={"x-probe": "1"})
    body = assert_problem(answer, 500, "INTERNAL_ERROR")
    assert "a bug in our own code" not in answer.text
    assert body["instance"] == "/api/workspaces"
    assert any("unhandled error" in record.message for record in caplog.records)

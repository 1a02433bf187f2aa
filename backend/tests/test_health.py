"""Liveness, readiness, the API description and CORS."""

import httpx
from asgi_lifespan import LifespanManager
from moto.server import ThreadedMotoServer

from app.bootstrap import ensure_resources
from app.main import create_app
from testing.dynamodb_local import running_dynamodb_local
from testing.moto import free_port
from tests.conftest import make_settings


async def test_health_is_healthy(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


async def test_ready_when_dynamodb_and_s3_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"dynamodb": "ok", "s3": "ok"}


async def test_ready_names_the_missing_bucket(aws_endpoint: str) -> None:
    settings = make_settings(aws_endpoint, s3_bucket="no-such-bucket")
    ensure_resources(make_settings(aws_endpoint))
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as http,
    ):
        response = await http.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"dynamodb": "ok", "s3": "unavailable"}
    assert "s3" in response.json()["detail"]


async def test_ready_is_503_while_aws_is_down_and_recovers_after() -> None:
    port, dynamodb_port = free_port(), free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    dynamodb = running_dynamodb_local(port=dynamodb_port)
    settings = make_settings(f"http://127.0.0.1:{port}", dynamodb_endpoint_url=dynamodb.__enter__())
    ensure_resources(settings)
    app = create_app(settings)
    try:
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
            ) as http,
        ):
            assert (await http.get("/health/ready")).status_code == 200

            server.stop()
            dynamodb.__exit__(None, None, None)
            down = await http.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["checks"] == {"dynamodb": "unavailable", "s3": "unavailable"}
            assert down.headers["retry-after"]
            write = await http.post("/api/workspaces", json={"name": "while-down"})
            assert write.status_code == 503
            assert write.json()["code"] == "STORAGE_UNAVAILABLE"
            assert "moto" not in write.text and "botocore" not in write.text

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            # In memory: the restarted emulator has lost the table, as a wiped one would.
            dynamodb = running_dynamodb_local(port=dynamodb_port)
            dynamodb.__enter__()
            ensure_resources(settings)
            assert (await http.get("/health/ready")).status_code == 200
            assert (await http.post("/api/workspaces", json={"name": "back"})).status_code == 201
    finally:
        server.stop()
        dynamodb.__exit__(None, None, None)


async def test_openapi_swagger_and_redoc_are_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/workspaces" in paths and "/api/functions/{function_id}" in paths
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200


async def test_cors_allows_configured_origins_only(client: httpx.AsyncClient) -> None:
    allowed = await client.options(
        "/api/workspaces",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
    refused = await client.options(
        "/api/workspaces",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_unknown_route_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


async def test_responses_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/workspaces")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    docs = await client.get("/docs")
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in docs.headers  # Swagger UI loads its own scripts


async def test_a_json_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/workspaces",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"

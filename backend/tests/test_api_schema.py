"""Generated requests (schemathesis) against a live backend: no 5xx, every answer as documented.

A few hundred requests over every operation of the OpenAPI description, authenticated with the
admin key of auth mode `api-key`, against uvicorn on loopback, DynamoDB Local and moto (S3).
"""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from app.bootstrap import ensure_resources
from app.config import Settings
from app.main import create_app
from testing.dynamodb_local import reset_shared_dynamodb_local
from testing.moto import free_port, reset_moto
from tests.conftest import make_settings

ADMIN_KEY = "schemathesis-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}

schema = schemathesis.openapi.from_dict(create_app(Settings(_env_file=None)).openapi())


@pytest.fixture(scope="module")
def live_backend(moto_server: str) -> Iterator[str]:
    reset_moto(moto_server)
    reset_shared_dynamodb_local()
    settings = make_settings(
        moto_server, auth_mode="api-key", admin_api_key=ADMIN_KEY, pollers_enabled=False
    )
    ensure_resources(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "backend did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    # Something to find, so that not every generated request ends in 404.
    workspace = httpx.post(f"{url}/api/workspaces", json={"name": "fuzz"}, headers=AUTH).json()
    httpx.post(
        f"{url}/api/workspaces/{workspace['id']}/functions", json={"name": "fuzz"}, headers=AUTH
    )
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@schema.parametrize()
@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_generated_requests_get_documented_answers_and_no_5xx(
    case: schemathesis.Case, live_backend: str
) -> None:
    # Left out: "every schema-valid request is accepted" — a schema cannot say that a
    # next_token must be one we issued, or that exactly one of task_id / wasm_path is given.
    case.call_and_validate(
        base_url=live_backend,
        headers=AUTH,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )

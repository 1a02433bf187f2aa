"""Every job endpoint wants the service's bearer token (docs/contract.md)."""

import httpx
import pytest

from conftest import AUTH

ENDPOINTS = [
    ("POST", "/v1/builds"),
    ("GET", "/v1/builds/build-x"),
    ("POST", "/v1/pushes"),
    ("GET", "/v1/pushes/push-x"),
    ("POST", "/v1/scaffolds"),
    ("GET", "/v1/scaffolds/scaffold-x"),
    ("POST", "/v1/deployments"),
    ("GET", "/v1/deployments/deploy-x"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic dGVzdDp0ZXN0", "Bearer "]
)
async def test_requests_without_the_right_token_get_401_problem_json(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    client.headers.pop("Authorization", None)
    response = await client.request(method, path, json={"job_key": "k"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "UNAUTHORIZED"
    assert body["status"] == 401


async def test_the_right_token_is_let_through(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/builds/build-unknown", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["code"] == "JOB_NOT_FOUND"


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization", None)
    response = await client.get("/health")
    assert response.json() == {"status": "healthy"}

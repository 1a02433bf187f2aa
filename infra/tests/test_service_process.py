"""`python -m infra_service` serves the API (as `make run` and the backend's tests start it)."""

import httpx

from testing.infra_service import running_infra_service


def test_the_service_runs_as_a_process_and_checks_tokens(aws_endpoint: str) -> None:
    with running_infra_service(aws_endpoint=aws_endpoint, subprocess=True) as infra:
        assert httpx.get(f"{infra.url}/health").json() == {"status": "healthy"}
        refused = httpx.get(f"{infra.url}/v1/builds/build-x")
        assert refused.status_code == 401
        unknown = httpx.get(f"{infra.url}/v1/builds/build-x", headers=infra.headers)
        assert unknown.status_code == 404
        openapi = httpx.get(f"{infra.url}/openapi.json").json()
        assert {"/v1/builds", "/v1/pushes", "/v1/scaffolds", "/v1/deployments"} <= set(
            openapi["paths"]
        )

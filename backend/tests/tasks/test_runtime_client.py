"""RuntimeClient against the fake deploy service: answers as models, failures as problems."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from app.errors import DomainError
from app.tasks.infra_client import RuntimeClient
from contract.runtime import InvocationRequest, TestInvocationRequest
from testing.fake_infra import FakeInfraService
from tests.tasks.conftest import pipeline_settings

MANIFEST = (
    "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
    'spec:\n  image: "registry.test/hello@sha256:00"\n  replicas: 1\n'
    '  variables:\n    - name: greeting\n      value: "hi"\n'
)


@pytest.fixture
async def runtime(settings: Settings, fake_infra: FakeInfraService) -> AsyncIterator[RuntimeClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield RuntimeClient(http=http, settings=pipeline_settings(settings, fake_infra.url))


async def test_a_deployment_reads_back_and_undeploys_once(
    runtime: RuntimeClient, fake_infra: FakeInfraService
) -> None:
    assert await runtime.deployment(namespace="default", name="hello") is None
    fake_infra.runtime.deployed(namespace="default", name="hello", manifest=MANIFEST)
    state = await runtime.deployment(namespace="default", name="hello")
    assert state is not None and (state.replicas, state.target) == (1, "local")
    assert state.endpoint == fake_infra.runtime.endpoint("default", "hello")
    assert await runtime.undeploy(namespace="default", name="hello") is True
    assert await runtime.undeploy(namespace="default", name="hello") is False
    assert await runtime.runtime_logs(namespace="default", name="hello") is None


async def test_an_outage_is_503_with_retry_after(
    runtime: RuntimeClient, fake_infra: FakeInfraService
) -> None:
    fake_infra.unavailable(1, status=503)
    with pytest.raises(DomainError) as raised:
        await runtime.deployment(namespace="default", name="hello")
    assert (raised.value.status, raised.value.code) == (503, "INFRA_UNAVAILABLE")
    assert raised.value.headers["Retry-After"] == "5"
    fake_infra.down()
    with pytest.raises(DomainError) as refused:
        await runtime.undeploy(namespace="default", name="hello")
    assert (refused.value.status, refused.value.code) == (503, "INFRA_UNAVAILABLE")


async def test_a_refusal_is_502_infra_rejected(
    runtime: RuntimeClient, fake_infra: FakeInfraService
) -> None:
    fake_infra.unavailable(1, status=400)
    with pytest.raises(DomainError) as raised:
        await runtime.undeploy(namespace="default", name="hello")
    assert (raised.value.status, raised.value.code) == (502, "INFRA_REJECTED")


async def test_a_component_that_is_not_there_is_409_artifact_not_found(
    runtime: RuntimeClient,
) -> None:
    request = TestInvocationRequest(
        app_name="hello",
        wasm_path="s3://bucket/build-artifacts/none/hello.wasm",
        request=InvocationRequest(),
    )
    with pytest.raises(DomainError) as raised:
        await runtime.test_invocation(request=request)
    assert (raised.value.status, raised.value.code) == (409, "ARTIFACT_NOT_FOUND")

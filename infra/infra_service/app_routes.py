"""The second wave's calls of the deploy service (docs/contract.md): apps and test invocations.

Thin: parse, call the deploy target or the one-shot runner, answer the contract's models.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from contract.runtime import (
    MAX_LOG_PAGE,
    DeploymentState,
    NamespaceDeleteResult,
    RuntimeLogPage,
    TestInvocationRequest,
    TestInvocationResult,
    UndeployResult,
)
from infra_service.auth import Authenticated
from infra_service.deploy import DeployTarget
from infra_service.errors import InvalidRequest
from infra_service.runtime.logs import normalise_time
from infra_service.runtime.oneshot import OneShotRunner
from infra_service.runtime.store import AppKey

LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def deploy_target(request: Request) -> DeployTarget:
    target: DeployTarget = request.app.state.deploy_target
    return target


def oneshot_runner(request: Request) -> OneShotRunner:
    runner: OneShotRunner = request.app.state.oneshot
    return runner


def app_key(
    namespace: Annotated[str, Path(max_length=63, pattern=LABEL)],
    name: Annotated[str, Path(max_length=63, pattern=LABEL)],
) -> AppKey:
    return AppKey(namespace, name)


Target = Annotated[DeployTarget, Depends(deploy_target)]
Key = Annotated[AppKey, Depends(app_key)]

apps = APIRouter(prefix="/v1/deployments", tags=["deployments"], dependencies=[Authenticated])


@apps.get("/{namespace}/{name}", summary="What runs under (namespace, name)")
async def read_deployment(key: Key, target: Target) -> DeploymentState:
    return await target.state(key)


@apps.delete("/{namespace}/{name}", summary="Undeploy (idempotent)")
async def undeploy(key: Key, target: Target) -> UndeployResult:
    return await target.undeploy(key)


@apps.get("/{namespace}/{name}/logs", summary="The app's runtime log lines, oldest first")
async def runtime_logs(
    key: Key,
    target: Target,
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = 100,
    tail: Annotated[int | None, Query(ge=1, le=MAX_LOG_PAGE)] = None,
) -> RuntimeLogPage:
    if since is not None:
        try:
            since = normalise_time(since)
        except ValueError as exc:
            raise InvalidRequest(f"since must be an ISO 8601 time, not {since!r}.") from exc
    return await target.logs(key, since=since, limit=limit, tail=tail)


namespaces = APIRouter(prefix="/v1/namespaces", tags=["namespaces"], dependencies=[Authenticated])


@namespaces.delete("/{namespace}", summary="Delete a workspace's namespace and its apps")
async def delete_namespace(
    namespace: Annotated[str, Path(max_length=63, pattern=LABEL)], target: Target
) -> NamespaceDeleteResult:
    """Idempotent; only namespaces the platform made (409 NAMESPACE_NOT_MANAGED otherwise)."""
    return await target.delete_namespace(namespace)


tests = APIRouter(prefix="/v1/test-invocations", tags=["test-invocations"],
                  dependencies=[Authenticated])  # fmt: skip


@tests.post("", summary="Run a built component once, without deploying it")
async def test_invocation(
    body: TestInvocationRequest,
    runner: Annotated[OneShotRunner, Depends(oneshot_runner)],
) -> TestInvocationResult:
    return await runner.run(body)


routers = [apps, namespaces, tests]

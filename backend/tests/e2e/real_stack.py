"""The whole product on loopback for the end-to-end tests: the backend with its pollers, the
real infrastructure service (componentize-py, its local Spin runtime and gateway), Debian's
docker-registry, DynamoDB Local and moto — both emulators emptied first.

Every test-started infrastructure service shares the session's build and compiled caches
(testing/infra_service.py), so a source another test already built is not built again.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from app.bootstrap import ensure_resources
from app.config import Settings
from testing.dynamodb_local import reset_shared_dynamodb_local
from testing.infra_service import InfraService, Registry, running_infra_service, running_registry
from testing.moto import reset_moto
from tests.conftest import make_settings
from tests.tasks.conftest import running_backend


@dataclass
class RealStack:
    api: httpx.AsyncClient
    settings: Settings
    registry: Registry
    infra: InfraService


@asynccontextmanager
async def real_stack(moto_server: str, **overrides: object) -> AsyncIterator[RealStack]:
    """Start it all; `overrides` are backend settings (e.g. `ecr_repository`)."""
    reset_moto(moto_server)
    reset_shared_dynamodb_local()
    with (
        running_registry() as registry,
        running_infra_service(aws_endpoint=moto_server, registry=registry) as infra,
    ):
        settings = make_settings(
            moto_server,
            pollers_enabled=True,
            build_service_url=infra.url,
            push_service_url=infra.url,
            scaffold_service_url=infra.url,
            deploy_service_url=infra.url,
            infra_service_token=infra.token,
            poll_interval_seconds=0.5,
            poll_first_delay_seconds=0.1,
            poller_tick_seconds=0.5,
            infra_request_timeout_seconds=30,
            ecr_registry_url=registry.host,
            **overrides,
        )
        ensure_resources(settings)
        async with running_backend(settings) as api:
            yield RealStack(api=api, settings=settings, registry=registry, infra=infra)

"""The FastAPI application: `create_app()` with a lifespan that opens and closes every client."""

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aioboto3
import httpx
from fastapi import FastAPI

from infra_service.app_routes import routers as app_routers
from infra_service.build import Builder
from infra_service.build_log import router as build_log_router
from infra_service.cache import BuildCache, LocalComponents
from infra_service.config import Environment, Settings
from infra_service.deploy import create_target
from infra_service.errors import install_error_handlers
from infra_service.image_routes import routers as image_routers
from infra_service.images import ImageRemover
from infra_service.jobs import JobStore
from infra_service.logging_setup import configure_logging
from infra_service.metrics import STATE as metrics_state
from infra_service.metrics import router as metrics_router
from infra_service.push import (
    Pusher,
    RepositoryMaker,
    ecr_credentials,
    ecr_repository_maker,
    static_credentials,
)
from infra_service.routes import health, routers
from infra_service.runtime.oneshot import OneShotRunner
from infra_service.runtime.store import RuntimeStore
from infra_service.runtime.target import LocalTarget
from infra_service.scaffold import Scaffolder
from infra_service.storage import ObjectStore
from infra_service.toolchain import prepare_toolchain

log = logging.getLogger(__name__)


def _aws_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.aws_endpoint_url:
        options["endpoint_url"] = settings.aws_endpoint_url
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        options["aws_access_key_id"] = settings.aws_access_key_id
        options["aws_secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    return options


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        session = aioboto3.Session()
        s3 = await stack.enter_async_context(session.client("s3", **_aws_options(settings)))
        objects = ObjectStore(client=s3, bucket=settings.s3_bucket)
        app.state.objects = objects
        try:
            await objects.ping()
        except Exception as exc:  # the service still starts; jobs report storage errors
            log.warning("bucket %s is not reachable yet: %s", settings.s3_bucket, exc)
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=True)
        )
        ecr = None
        make_repository: RepositoryMaker | None = None
        if settings.registry_uses_ecr:
            ecr = await stack.enter_async_context(session.client("ecr", **_aws_options(settings)))
            credentials = ecr_credentials(ecr_client=ecr)
            make_repository = ecr_repository_maker(ecr_client=ecr)
        else:  # an OCI registry (docker-registry) makes a repository on its first push
            credentials = static_credentials(settings)
        app.state.images = ImageRemover(
            settings=settings, http=http, credentials=credentials, ecr=ecr
        )

        scratch = settings.scratch_dir
        scratch.mkdir(parents=True, exist_ok=True)
        for leftover in scratch.glob("build-*"):  # from a process that died mid-build
            shutil.rmtree(leftover, ignore_errors=True)
        toolchain = await asyncio.to_thread(prepare_toolchain, scratch)
        builder = Builder(
            settings=settings,
            objects=objects,
            toolchain=toolchain,
            cache=BuildCache(
                index_file=scratch / "build-cache.json",
                enabled=settings.build_cache_enabled,
                local=LocalComponents(
                    settings.build_cache_dir, max_bytes=settings.build_cache_max_bytes
                )
                if settings.build_cache_dir is not None and settings.build_cache_enabled
                else None,
            ),
            compile_slots=asyncio.Semaphore(settings.build_concurrency),
        )
        pusher = Pusher(
            settings=settings,
            objects=objects,
            http=http,
            credentials=credentials,
            make_repository=make_repository,
        )
        target = create_target(settings, http=http, credentials=credentials)
        await target.start()
        stack.push_async_callback(target.stop)
        app.state.deploy_target = target
        app.state.oneshot = OneShotRunner(
            settings=settings,
            objects=objects,
            store=target.store
            if isinstance(target, LocalTarget)
            else RuntimeStore(settings.runtime_root, compiled=settings.runtime_compiled_root),
        )

        jobs = JobStore(max_queued=settings.max_queued_jobs)
        # Build workers beyond the compile slots serve cache hits while a compile runs.
        jobs.register(
            kind="build",
            runner=builder.run,
            check=builder.check,
            workers=settings.build_concurrency + 2,
        )
        jobs.register(
            kind="push", runner=pusher.run, check=pusher.check, workers=settings.push_concurrency
        )
        scaffolder = Scaffolder(objects=objects)
        jobs.register(kind="scaffold", runner=scaffolder.run, check=scaffolder.check, workers=2)
        jobs.register(
            kind="deploy",
            runner=target.run,
            check=target.check,
            workers=settings.deploy_concurrency,
        )
        app.state.jobs = jobs
        metrics_state.jobs, metrics_state.target = jobs, target
        await jobs.start()
        stack.push_async_callback(jobs.stop)
        log.info(
            "infra service ready: bucket %s, registry %s, toolchain %s, deploys to %s",
            settings.s3_bucket,
            settings.registry_url,
            toolchain.fingerprint,
            target.name,
        )
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; settings come from the environment unless given."""
    settings = settings or Settings()
    configure_logging(
        level=settings.log_level, json_lines=settings.app_env is Environment.production
    )
    app = FastAPI(
        title="FaaS infrastructure service",
        version="0.1.0",
        summary="Build, push, scaffold and deploy jobs for the control plane (docs/contract.md).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health)
    app.include_router(metrics_router)
    app.include_router(build_log_router)  # before the collections: /v1/builds/{id}/log
    for router in [*routers, *app_routers, *image_routers]:
        app.include_router(router)
    return app

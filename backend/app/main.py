"""The FastAPI application: routes, error handling, and the lifespan that owns every client."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI

from app.api.cors import ProblemCORSMiddleware
from app.api.forms import refuse_repeated_parts
from app.api.last_resort import LastResort
from app.api.limits import BodySizeLimit, HeaderLimit, is_upload_path
from app.api.openapi import openapi_document
from app.api.security_headers import SecurityHeaders
from app.auth.middleware import AuthenticationMiddleware
from app.auth.router import router as access_router
from app.aws import open_aws_clients
from app.config import Environment, Settings, get_settings
from app.console import mount_console
from app.container import Container, infra_http_client
from app.errors import install_error_handlers
from app.events.router import router as events_router
from app.functions.router import router as functions_router
from app.health.router import router as health_router
from app.invoke.proxy import invoke_http_client, is_invoke_path
from app.invoke.router import router as invoke_router
from app.logging_setup import configure_logging
from app.maintenance.sweeper import start_sweeper
from app.observability.router import router as metrics_router
from app.tasks.router import router as tasks_router
from app.workspaces.router import router as workspaces_router

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for `settings` (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            aws = await stack.enter_async_context(open_aws_clients(settings))
            http = await stack.enter_async_context(infra_http_client(settings))
            invoke_http = await stack.enter_async_context(invoke_http_client(settings))
            container = Container.build(
                settings=settings, aws=aws, http=http, invoke_http=invoke_http
            )
            app.state.container = container
            stack.push_async_callback(container.events.close)
            # Invocation figures: flushed every few seconds, and once more on the way out.
            flusher = asyncio.create_task(container.invocations.run(), name="invocation-stats")
            stack.push_async_callback(_stop, flusher)
            if settings.pollers_enabled:
                poller = asyncio.create_task(container.poller.run(), name="task-poller")
                stack.push_async_callback(_stop, poller)
            if settings.sweeper_enabled:  # interrupted uploads: app/maintenance/sweeper.py
                stack.push_async_callback(_stop, start_sweeper(container))
            if settings.auth_mode == "none":
                log.warning(
                    "AUTHENTICATION IS OFF (AUTH_MODE=none): every caller is 'anonymous'. "
                    "Development only; production refuses this setting."
                )
            log.info("backend ready (env=%s, table=%s)", settings.app_env, settings.dynamodb_table)
            yield

    app = FastAPI(
        title="FaaS control plane",
        version="0.1.0",
        description="Workspaces, functions and the build → push → scaffold → deploy pipeline.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_repeated_parts)],
    )
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    # Added innermost first: a request meets SecurityHeaders, LastResort, HeaderLimit, CORS,
    # authentication, then the body limit (app.api describes each).
    app.add_middleware(
        BodySizeLimit,
        default=1024 * 1024,
        upload_limit=settings.max_upload_bytes,
        is_upload=is_upload_path,
        bounds_itself=is_invoke_path,
    )
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(HeaderLimit)
    app.add_middleware(LastResort)
    app.add_middleware(SecurityHeaders, hsts=settings.app_env is Environment.production)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(workspaces_router)
    app.include_router(functions_router)
    app.include_router(tasks_router)
    app.include_router(events_router)
    app.include_router(metrics_router)
    app.include_router(invoke_router)
    app.include_router(access_router)
    mount_console(app)
    return app


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _app_from_environment() -> FastAPI:
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings)


# `uvicorn app.main:app`
app = _app_from_environment()

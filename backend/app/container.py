"""What the lifespan opens once per process and the routes use: clients and repositories."""

from dataclasses import dataclass, field
from functools import cached_property

import httpx

from app.auth.jwt_verifier import JwtVerifier
from app.auth.role_cache import RoleCache
from app.aws import AwsClients
from app.config import Settings
from app.events.hub import EventHub
from app.functions.cleanup import FunctionCleanup
from app.functions.images import ImageClient
from app.invoke.cache import FunctionCache
from app.invoke.stats import InvocationRecorder
from app.observability.metrics import set_sse_subscribers
from app.storage.api_keys import ApiKeyRepository
from app.storage.changes import ChangeStream
from app.storage.functions import FunctionRepository
from app.storage.invocation_stats import InvocationStatsRepository
from app.storage.members import MemberRepository
from app.storage.objects import ObjectStore
from app.storage.revisions import RevisionRepository
from app.storage.tasks import TaskRepository, WorkspaceLimits
from app.storage.workspaces import WorkspaceRepository
from app.tasks.driver import TaskDriver
from app.tasks.infra_client import InfraClient, RuntimeClient
from app.tasks.poller import TaskPoller, replica_id
from app.tasks.service import TaskRepos
from app.workspaces.namespaces import NamespaceClient


@dataclass
class Container:
    settings: Settings
    aws: AwsClients
    http: httpx.AsyncClient
    workspaces: WorkspaceRepository
    functions: FunctionRepository
    members: MemberRepository
    api_keys: ApiKeyRepository
    tasks: TaskRepository
    objects: ObjectStore
    infra: InfraClient
    runtime: RuntimeClient
    poller: TaskPoller
    revisions: RevisionRepository
    cleanup: FunctionCleanup
    jwt_verifier: JwtVerifier | None
    roles: RoleCache
    events: EventHub
    namespaces: NamespaceClient
    # Function endpoints (app/invoke): their own client, pool and limits.
    invoke_http: httpx.AsyncClient
    invocation_stats: InvocationStatsRepository
    invocations: InvocationRecorder
    invocable: FunctionCache
    owner: str = field(default_factory=replica_id)

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        aws: AwsClients,
        http: httpx.AsyncClient,
        invoke_http: httpx.AsyncClient,
    ) -> "Container":
        table = settings.dynamodb_table
        owner = replica_id()
        tasks = TaskRepository(client=aws.dynamodb, table=table)
        infra = InfraClient(http=http, settings=settings)
        functions = FunctionRepository(client=aws.dynamodb, table=table)
        objects = ObjectStore(client=aws.s3, bucket=settings.s3_bucket)
        stream = ChangeStream(dynamodb=aws.dynamodb, streams=aws.dynamodb_streams, table=table)
        stats = InvocationStatsRepository(client=aws.dynamodb, table=table)
        revisions = RevisionRepository(client=aws.dynamodb, table=table)
        objects = ObjectStore(client=aws.s3, bucket=settings.s3_bucket)
        cleanup = FunctionCleanup(
            tasks=tasks,
            revisions=revisions,
            objects=objects,
            images=ImageClient(http=http, settings=settings),
            settings=settings,
        )
        driver = TaskDriver(
            tasks=tasks, functions=functions, infra=infra, settings=settings, owner=owner,
            revisions=revisions, retention=cleanup.apply_retention,
        )  # fmt: skip
        events = EventHub(
            tasks=tasks,
            functions=functions,
            stream=stream,
            infra=infra,
            objects=objects,
            settings=settings,
            on_subscribers=set_sse_subscribers,
        )
        driver.on_saved = events.local_write
        return cls(
            settings=settings,
            aws=aws,
            http=http,
            workspaces=WorkspaceRepository(client=aws.dynamodb, table=table),
            functions=functions,
            members=MemberRepository(client=aws.dynamodb, table=table),
            api_keys=ApiKeyRepository(client=aws.dynamodb, table=table),
            tasks=tasks,
            objects=objects,
            infra=infra,
            runtime=RuntimeClient(http=http, settings=settings),
            poller=TaskPoller(tasks=tasks, driver=driver, settings=settings, owner=owner),
            revisions=revisions,
            cleanup=cleanup,
            jwt_verifier=_jwt_verifier(settings, http),
            roles=RoleCache(ttl=settings.membership_cache_seconds),
            events=events,
            namespaces=NamespaceClient(http=http, settings=settings),
            invoke_http=invoke_http,
            invocation_stats=stats,
            invocations=InvocationRecorder(
                repository=stats, flush_seconds=settings.invoke_stats_flush_seconds
            ),
            invocable=FunctionCache(ttl=settings.invoke_function_cache_seconds),
            owner=owner,
        )

    @cached_property
    def task_repos(self) -> TaskRepos:
        return TaskRepos(
            functions=self.functions,
            tasks=self.tasks,
            objects=self.objects,
            limits=WorkspaceLimits(
                max_active=self.settings.workspace_max_active_tasks,
                per_minute=self.settings.workspace_max_tasks_per_minute,
            ),
            settings=self.settings,
            wake=self.wake_pollers,
        )

    def wake_pollers(self) -> None:
        """A task was created: let this process's poller pick it up now."""
        if self.settings.pollers_enabled:
            self.poller.wake()


def infra_http_client(settings: Settings) -> httpx.AsyncClient:
    """The process's one HTTP client for the infrastructure services, with explicit timeouts."""
    timeout = httpx.Timeout(settings.infra_request_timeout_seconds, connect=2.0)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


def _jwt_verifier(settings: Settings, http: httpx.AsyncClient) -> JwtVerifier | None:
    if settings.auth_mode != "jwt" or not settings.oidc_issuer or not settings.jwks_url:
        return None
    return JwtVerifier(
        http=http,
        issuer=settings.oidc_issuer,
        jwks_url=settings.jwks_url,
        client_ids=settings.oidc_client_ids,
        cache_seconds=settings.oidc_jwks_cache_seconds,
    )

"""Settings of the control plane: one object, read from the environment and `.env`."""

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024

# Values that mean "somebody forgot to fill this in"; production refuses them.
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "changethis", "placeholder", "xxx", "todo"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Everything the backend reads from its environment (SPEC §8)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_env: Environment = Environment.development
    log_level: str = "INFO"

    # AWS: region, optional endpoint (moto locally), optional static keys (else the default chain).
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # DynamoDB's own endpoint when it differs (locally: DynamoDB Local; S3 stays on moto).
    dynamodb_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None

    dynamodb_table: str = "sfbank-blue-FaaSData"
    s3_bucket: str = "sfbank-blue-functions-code-bucket"

    # Authentication of /api routes: OIDC access tokens (Cognito), API keys only, or nobody
    # (development only). API keys created through the API work in every mode.
    auth_mode: Literal["jwt", "api-key", "none"] = "none"
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_client_ids: Annotated[list[str], NoDecode] = []
    oidc_jwks_cache_seconds: float = Field(default=3600, gt=0)
    # In api-key mode, the key of the administrator who creates workspaces and their keys.
    admin_api_key: SecretStr | None = None

    # How long a replica trusts a membership it has read (0: read it on every request).
    membership_cache_seconds: float = Field(default=2.0, ge=0)

    # Per-workspace abuse limits.
    workspace_max_active_tasks: int = Field(default=5, ge=1)
    workspace_max_tasks_per_minute: int = Field(default=30, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:3000",
        "http://localhost:5173",
    ]

    # The infrastructure services (docs/contract.md); they may all be one process.
    build_service_url: str = "http://127.0.0.1:8001"
    push_service_url: str = "http://127.0.0.1:8001"
    scaffold_service_url: str = "http://127.0.0.1:8001"
    deploy_service_url: str = "http://127.0.0.1:8001"
    infra_service_token: SecretStr = SecretStr("dev-infra-token")
    infra_request_timeout_seconds: float = Field(default=10.0, gt=0)

    # Invoking a deployed function through /api/functions/{id}/invoke (app/invoke): bounds of
    # the forwarded request and of the function's answer, and of the whole exchange (above the
    # gateway's own limit, so that its FUNCTION_TIMEOUT reaches the caller as it is).
    invoke_max_request_bytes: int = Field(default=6 * MIB, ge=1)
    invoke_max_response_bytes: int = Field(default=6 * MIB, ge=1)
    invoke_timeout_seconds: float = Field(default=45.0, gt=0)
    # A test invocation may compile the component before it runs it (the sandbox's load time).
    test_invoke_timeout_seconds: float = Field(default=180.0, gt=0)
    # How long the invoke route trusts a function record it has read (0: read it every call).
    invoke_function_cache_seconds: float = Field(default=2.0, ge=0)
    # How often each replica adds its invocation figures to the function's stats item.
    invoke_stats_flush_seconds: float = Field(default=5.0, gt=0)

    ecr_registry_url: str = "127.0.0.1:5001"
    # The base of every push repository: a workspace's images go to
    # `{ecr_repository}/{workspace short id}/{app_name}` (app.storage.keys).
    ecr_repository: str = "faas-functions"
    # How many of a function's newest revisions keep their artifacts (sources, components,
    # manifests, logs, registry images); older ones keep only their record.
    revision_retention: int = Field(default=10, ge=1, le=1000)
    # Each workspace deploys into its own namespace, `{prefix}{workspace short id}` (a DNS
    # label: the prefix starts with a letter and leaves room for the 26-character id).
    deploy_namespace_prefix: Annotated[
        str, Field(max_length=37, pattern=r"^[a-z]([-a-z0-9]*[-a-z0-9])?$")
    ] = "faas-"
    # Registries other than ECR_REGISTRY_URL that a scaffold's `image_url` (or a deploy
    # manifest's image) may name, as `host[:port]` (comma-separated); empty: none.
    allowed_image_registries: Annotated[list[str], NoDecode] = []

    # The task pipeline (SPEC §5).
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    poll_max_attempts: int = Field(default=120, ge=1)
    poll_first_delay_seconds: float = Field(default=0.25, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    pollers_enabled: bool = True
    poller_concurrency: int = Field(default=32, ge=1)
    # How often a replica looks for due tasks created elsewhere (its own wake it at once).
    poller_tick_seconds: float = Field(default=1.0, gt=0)

    # The sweeper (app/maintenance): on start-up and then every interval, it removes sources
    # with no task and unfinished multipart uploads, once they are older than the grace period
    # (an upload in progress, or a task about to be written, is younger).
    sweeper_enabled: bool = True
    sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    sweep_grace_seconds: float = Field(default=3600.0, ge=0)

    # The live event streams (app.events): the table's change stream is read this often by one
    # reader per replica, only while someone watches (in `poll` mode: the watched items).
    events_poll_seconds: float = Field(default=0.1, gt=0)
    # Where a replica learns of changes: the table's stream (no table reads per change; AWS
    # allows two readers per shard, so at most two replicas), or `poll`: one BatchGetItem of the
    # watched tasks (and a Query per watched workspace) per interval, for more replicas.
    events_source: Literal["stream", "poll"] = "stream"
    # A running build's log is read from the build service this often (per task, per replica).
    events_log_poll_seconds: float = Field(default=0.5, gt=0)
    # A comment line this often keeps proxies from closing an idle stream.
    events_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Frames a subscriber may have waiting; a client that falls further behind is cut off
    # (it reconnects with Last-Event-ID and loses nothing).
    events_queue_frames: int = Field(default=1000, ge=1)
    events_max_subscribers: int = Field(default=2000, ge=1)
    # The change-stream reader stops this long after the last subscriber left.
    events_idle_seconds: float = Field(default=10.0, ge=0)

    # GET /metrics (Prometheus): open by default, like most exporters; with a token set it
    # wants `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None

    max_upload_bytes: int = Field(default=50 * MIB, ge=1)
    max_archive_entries: int = Field(default=1000, ge=1)
    max_archive_uncompressed_bytes: int = Field(default=200 * MIB, ge=1)

    @field_validator("cors_origins", "oidc_client_ids", "allowed_image_registries", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Self:
        if self.app_env is not Environment.production:
            return self
        problems: list[str] = []
        required = {
            "aws_region": self.aws_region,
            "dynamodb_table": self.dynamodb_table,
            "s3_bucket": self.s3_bucket,
            "build_service_url": self.build_service_url,
            "push_service_url": self.push_service_url,
            "scaffold_service_url": self.scaffold_service_url,
            "deploy_service_url": self.deploy_service_url,
            "ecr_registry_url": self.ecr_registry_url,
            "ecr_repository": self.ecr_repository,
        }
        for name, value in required.items():
            if value.strip().lower() in PLACEHOLDERS:
                problems.append(f"{name} is missing or a placeholder")
            elif name.endswith("_url") and _is_loopback(value):
                problems.append(f"{name} points at this machine ({value}), a development default")
        token = self.infra_service_token.get_secret_value()
        if token.lower() in PLACEHOLDERS or token == "dev-infra-token" or len(token) < 32:
            problems.append("infra_service_token must be a secret of at least 32 characters")
        if self.aws_endpoint_url:
            problems.append("aws_endpoint_url points at an emulator; unset it in production")
        if self.dynamodb_endpoint_url:
            problems.append("dynamodb_endpoint_url points at an emulator; unset it in production")
        if self.auth_mode == "none":
            problems.append("auth_mode 'none' is for development only")
        if self.auth_mode == "jwt" and not (self.oidc_issuer and self.oidc_client_ids):
            problems.append("auth_mode 'jwt' needs oidc_issuer and oidc_client_ids")
        if self.auth_mode == "api-key":
            admin = self.admin_api_key.get_secret_value() if self.admin_api_key else ""
            if len(admin) < 32:
                problems.append("auth_mode 'api-key' needs an admin_api_key of ≥ 32 characters")
        secret = self.aws_secret_access_key
        if secret is not None and secret.get_secret_value().lower() in PLACEHOLDERS | {"testing"}:
            problems.append("aws_secret_access_key is a placeholder")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def dynamodb_endpoint(self) -> str | None:
        """Where DynamoDB requests go (None: AWS's own endpoint)."""
        return self.dynamodb_endpoint_url or self.aws_endpoint_url

    @property
    def jwks_url(self) -> str | None:
        if self.oidc_jwks_url:
            return self.oidc_jwks_url
        if self.oidc_issuer:
            return self.oidc_issuer.rstrip("/") + "/.well-known/jwks.json"
        return None


def _is_loopback(address: str) -> bool:
    """Whether a URL or `host[:port]` names this machine (127.0.0.0/8, ::1, localhost, 0.0.0.0)."""
    value = address.strip()
    host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

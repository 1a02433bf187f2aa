"""Settings of the infrastructure service: one object, from the environment (INFRA_*) and .env."""

import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.fields import Namespace, Quantity

MIB = 1024 * 1024
DEV_TOKEN = "dev-infra-token"

# Values that mean "somebody forgot to fill this in"; production refuses them.
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "changethis", "placeholder", "xxx", "todo"})
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def _env(name: str, *aliases: str) -> AliasChoices:
    """Read INFRA_<NAME>, falling back to the conventional unprefixed variables."""
    return AliasChoices(f"INFRA_{name}", *aliases)


class Settings(BaseSettings):
    """Everything the infrastructure service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="INFRA_",
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    app_env: Environment = Field(
        Environment.development, validation_alias=_env("APP_ENV", "APP_ENV")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    log_level: str = "INFO"
    # The backend sends `Authorization: Bearer <token>` (docs/contract.md).
    service_token: SecretStr = SecretStr(DEV_TOKEN)

    # AWS: region, optional endpoint (moto locally), optional static keys (else the default chain).
    aws_region: str = Field(
        "us-east-1", validation_alias=_env("AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_endpoint_url: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    s3_bucket: str = "sfbank-blue-functions-code-bucket"

    # Where pushes go: ECR (auth from GetAuthorizationToken) or any OCI registry.
    registry_url: str = "127.0.0.1:5001"
    registry_insecure: bool = False  # plain http, for a local registry only
    registry_auth: Literal["auto", "anonymous", "basic", "ecr"] = "auto"
    registry_username: str | None = None
    registry_password: SecretStr | None = None
    push_chunk_bytes: int = Field(default=8 * MIB, ge=64 * 1024)

    # Builds.
    scratch_dir: Path = Path(tempfile.gettempdir()) / "faas-infra"
    build_concurrency: int = Field(default=1, ge=1, le=16)
    build_timeout_seconds: float = Field(default=300.0, gt=0)
    build_memory_bytes: int = Field(default=3072 * MIB, ge=0)  # RLIMIT_DATA; 0 = no limit
    build_nice: int = Field(default=10, ge=0, le=19)
    max_source_bytes: int = Field(default=50 * MIB, ge=1)
    max_archive_entries: int = Field(default=1000, ge=1)
    max_unpacked_bytes: int = Field(default=200 * MIB, ge=1)
    allow_requirements: bool = True
    pip_index_url: str | None = None
    pip_find_links: str | None = None  # a local wheelhouse; when set, no index is used
    requirements_timeout_seconds: float = Field(default=180.0, gt=0)
    build_cache_enabled: bool = True
    # Components also kept on this node's disk by cache key (survives a lost S3 object); unset: off.
    build_cache_dir: Path | None = None
    build_cache_max_bytes: int = Field(default=2048 * MIB, ge=MIB)  # least recently used go first

    # Deploys.
    kubeconfig: str | None = Field(None, validation_alias=_env("KUBECONFIG", "KUBECONFIG"))
    kube_context: str | None = None
    field_manager: str = "faas-infra-service"
    deploy_ready_timeout_seconds: float = Field(default=180.0, gt=0)
    deploy_poll_seconds: float = Field(default=2.0, gt=0)
    deploy_request_timeout_seconds: float = Field(default=10.0, gt=0)
    endpoint_template: str = "http://{name}.{namespace}.svc.cluster.local"
    # What the deploy makes of a workspace's namespace on the cluster (infra_service.tenancy):
    # a ResourceQuota and LimitRange with these values, a default-deny NetworkPolicy that
    # admits only pods of `tenant_ingress_namespaces` (the backend's invoke proxy; add your
    # ingress controller's) on the apps' port, and the SpinAppExecutor the SpinApps name.
    tenant_quota_cpu: Quantity = "4"  # requests.cpu and limits.cpu of the whole namespace
    tenant_quota_memory: Quantity = "4Gi"
    tenant_quota_pods: int = Field(default=20, ge=1)
    tenant_quota_apps: int = Field(default=20, ge=1)  # SpinApps per namespace
    tenant_default_cpu_limit: Quantity = "500m"  # per container without its own resources
    tenant_default_memory_limit: Quantity = "256Mi"
    tenant_default_cpu_request: Quantity = "50m"
    tenant_default_memory_request: Quantity = "64Mi"
    tenant_ingress_namespaces: list[Namespace] = Field(default_factory=lambda: ["faas"])
    tenant_app_port: int = Field(default=80, ge=1, le=65535)  # what SpinKube's pods listen on
    tenant_runtime_class: str = "wasmtime-spin-v2"
    # The RoleBinding each workspace's namespace gets, so that this service may manage apps
    # there (manifests/infra-service/rbac.yaml): the ClusterRole it binds, and the service
    # account it binds it to. An empty account: no RoleBinding (credentials of an admin).
    tenant_cluster_role: str = "faas-infra-service-tenant"
    tenant_service_account: str = "faas-infra-service"
    tenant_service_account_namespace: str = "faas"
    # How long an apply answered 403 is retried: RBAC takes a moment to see a new RoleBinding.
    deploy_rbac_settle_seconds: float = Field(default=5.0, ge=0)
    # Where deploys go: a cluster running SpinKube, or the local runtime (runtime/). Unset: the
    # cluster when one is configured (a kubeconfig, or running in a pod), else local.
    deploy_target: Literal["local", "kubernetes"] | None = None
    kubernetes_service_host: str | None = Field(
        None, validation_alias=AliasChoices("KUBERNETES_SERVICE_HOST")
    )

    # The local runtime: desired state, verified components, compiled cache, kv data, logs.
    runtime_dir: Path | None = None  # default: <scratch_dir>/runtime
    # Compiled components (keyed by wasm sha256 + wasmtime fingerprint); may be shared.
    runtime_compiled_dir: Path | None = None  # default: <runtime dir>/compiled
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8002, ge=0, le=65535)  # 0: any free port (tests)
    # The command that runs one component host; `serve`/`once` and options are appended.
    runtime_host_command: list[str] = Field(default_factory=list)  # default: this Python's host
    runtime_timeout_ms: int = Field(default=30_000, ge=10, le=900_000)  # per request
    runtime_memory_bytes: int = Field(default=256 * MIB, ge=16 * MIB)  # per instance
    runtime_max_request_bytes: int = Field(default=10 * MIB, ge=1024)
    runtime_max_response_bytes: int = Field(default=10 * MIB, ge=1024)
    runtime_concurrency: int = Field(default=8, ge=1, le=256)  # requests at once per replica
    runtime_max_apps: int = Field(default=20, ge=1)
    runtime_max_replicas: int = Field(default=16, ge=1)  # host processes on this machine
    runtime_max_component_bytes: int = Field(default=256 * MIB, ge=1024)
    runtime_log_max_bytes: int = Field(default=2 * MIB, ge=64 * 1024)  # kept per app, on disk
    runtime_drain_seconds: float = Field(default=30.0, gt=0)  # in-flight requests of old replicas
    runtime_health_interval_seconds: float = Field(default=5.0, gt=0)
    runtime_restart_backoff_seconds: float = Field(default=0.5, gt=0)
    runtime_restart_backoff_max_seconds: float = Field(default=30.0, gt=0)
    gateway_wait_ready_seconds: float = Field(default=5.0, ge=0)  # a request waits for a replica
    runtime_test_concurrency: int = Field(default=2, ge=1, le=16)
    runtime_test_load_timeout_seconds: float = Field(default=120.0, gt=0)  # compile on a miss

    # Job queues: how many jobs of each kind run at once, and how many may wait.
    push_concurrency: int = Field(default=2, ge=1, le=16)
    deploy_concurrency: int = Field(default=4, ge=1, le=64)
    max_queued_jobs: int = Field(default=200, ge=1)
    # GET /metrics: open by default (scraped from inside the cluster); with a token set, a
    # scrape sends `Authorization: Bearer <INFRA_METRICS_TOKEN>`.
    metrics_token: SecretStr | None = None

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Self:
        if self.app_env is not Environment.production:
            return self
        problems: list[str] = []
        token = self.service_token.get_secret_value()
        if token.lower() in PLACEHOLDERS or token == DEV_TOKEN or len(token) < 32:
            problems.append("INFRA_SERVICE_TOKEN must be a secret of at least 32 characters")
        for name in ("s3_bucket", "registry_url", "aws_region"):
            if str(getattr(self, name)).strip().lower() in PLACEHOLDERS:
                problems.append(f"{name} is missing or a placeholder")
        if _LOOPBACK.match(self.registry_url):
            problems.append("registry_url points at a local registry; use ECR in production")
        if self.registry_insecure:
            problems.append("registry_insecure (plain http) is for local registries only")
        if self.aws_endpoint_url:
            problems.append("aws_endpoint_url points at an emulator; unset it in production")
        secret = self.aws_secret_access_key
        if secret is not None and secret.get_secret_value().lower() in PLACEHOLDERS | {"testing"}:
            problems.append("aws_secret_access_key is a placeholder")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def registry_base_url(self) -> str:
        """The registry's base URL (https unless the registry is marked insecure)."""
        scheme = "http" if self.registry_insecure else "https"
        return f"{scheme}://{self.registry_url.rstrip('/')}"

    @property
    def deploy_target_name(self) -> Literal["local", "kubernetes"]:
        """The deploy target in force (INFRA_DEPLOY_TARGET, else what is configured)."""
        if self.deploy_target is not None:
            return self.deploy_target
        return "kubernetes" if self.kubeconfig or self.kubernetes_service_host else "local"

    @property
    def runtime_root(self) -> Path:
        return self.runtime_dir or self.scratch_dir / "runtime"

    @property
    def runtime_compiled_root(self) -> Path:
        return self.runtime_compiled_dir or self.runtime_root / "compiled"

    @property
    def registry_uses_ecr(self) -> bool:
        if self.registry_auth != "auto":
            return self.registry_auth == "ecr"
        return bool(ECR_HOST.match(self.registry_url))

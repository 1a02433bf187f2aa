"""The replica config (`replica.json`) that the supervisor hands to the host (see host.py)."""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AppName(BaseModel):
    namespace: str
    name: str


class Listen(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


class Limits(BaseModel):
    timeout_ms: int = Field(default=10_000, gt=0)
    memory_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    concurrency: int = Field(default=4, ge=1, le=64)


class ReplicaConfig(BaseModel):
    # Unknown keys are ignored, so the supervisor may add fields before the host reads them.
    model_config = ConfigDict(extra="ignore")

    app: AppName
    replica: str = "r0"
    component: Path
    component_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    compiled_cache_dir: Path
    locked_app: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, str] = Field(default_factory=dict)
    kv_dir: Path
    listen: Listen = Field(default_factory=Listen)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("component_sha256", mode="before")
    @classmethod
    def _bare_hex(cls, value: Any) -> Any:
        # An OCI digest ("sha256:<hex>") names the same bytes; keep only the hex.
        if isinstance(value, str) and value.startswith("sha256:"):
            return value.removeprefix("sha256:")
        return value


def load_config(path: Path) -> ReplicaConfig:
    return ReplicaConfig.model_validate_json(path.read_bytes())

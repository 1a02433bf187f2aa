"""Models of the deploy service's second-wave calls: apps, runtime logs, test invocations.

docs/contract.md "Calls added in the second wave" is the prose of these models.
"""

import base64
import binascii
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# A DNS-1123 label: a SpinApp's namespace, or its name (≤ 52 so that SpinKube's labels fit).
Namespace = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
AppName = Annotated[
    str, StringConstraints(max_length=52, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
VariableName = Annotated[str, StringConstraints(max_length=128, pattern=r"^[a-z][a-z0-9_]*$")]
S3Path = Annotated[str, StringConstraints(min_length=6, max_length=1024, pattern=r"^s3://")]
# An invocation id travels in a header and in log lines: short, printable, no separators.
InvocationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]

DeployTargetName = Literal["local", "kubernetes"]
BodyEncoding = Literal["utf-8", "base64"]
LogStream = Literal["stdout", "stderr"]
FunctionErrorCode = Literal[
    "FUNCTION_TIMEOUT",
    "FUNCTION_MEMORY_LIMIT",
    "FUNCTION_ERROR",
    "RESPONSE_TOO_LARGE",
    "REQUEST_TOO_LARGE",
    "COMPONENT_INVALID",
]
MAX_LOG_PAGE = 1000


class DeploymentState(BaseModel):
    """What runs under (namespace, name): `GET /v1/deployments/{namespace}/{name}`."""

    namespace: str
    name: str
    target: DeployTargetName
    image: str | None
    replicas: int
    ready_replicas: int
    endpoint: str | None
    updated_at: str | None


class UndeployResult(BaseModel):
    """`DELETE /v1/deployments/{namespace}/{name}`: idempotent, `deleted` says if anything was."""

    namespace: str
    name: str
    deleted: bool


class NamespaceDeleteResult(BaseModel):
    """`DELETE /v1/namespaces/{namespace}`: idempotent, `deleted` says if anything was there."""

    namespace: str
    deleted: bool


class RuntimeLogEntry(BaseModel):
    """One line the function (or, on Kubernetes, its pod) wrote."""

    time: str  # ISO 8601 UTC, microseconds: 2026-01-01T00:00:00.000000Z
    replica: str | None
    stream: LogStream
    invocation_id: str | None
    message: str


class RuntimeLogPage(BaseModel):
    """Oldest first; pass `next_since` back as `since` for the lines after these."""

    entries: list[RuntimeLogEntry]
    next_since: str | None


def _check_body(body: str, encoding: BodyEncoding) -> None:
    if encoding == "base64":
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("body is not valid base64") from exc


class InvocationRequest(BaseModel):
    """The HTTP request a test invocation sends to the component."""

    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,16}$")] = "GET"
    path: Annotated[str, StringConstraints(min_length=1, max_length=8192, pattern=r"^/")] = "/"
    headers: dict[
        Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")],
        Annotated[str, StringConstraints(max_length=8192, pattern=r"^[^\r\n\x00]*$")],
    ] = Field(default_factory=dict, max_length=100)
    body: str = ""
    body_encoding: BodyEncoding = "utf-8"

    @model_validator(mode="after")
    def _body_decodes(self) -> "InvocationRequest":
        _check_body(self.body, self.body_encoding)
        return self


class TestInvocationRequest(BaseModel):
    """`POST /v1/test-invocations`: run a built component once, without deploying it."""

    __test__: ClassVar[bool] = False  # not a pytest class, whatever its name
    model_config = ConfigDict(extra="forbid")

    app_name: AppName
    wasm_path: S3Path
    variables: dict[VariableName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=100
    )
    allowed_outbound_hosts: list[Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=list, max_length=50
    )
    request: InvocationRequest = Field(default_factory=InvocationRequest)


class TestInvocationResult(BaseModel):
    """What the component answered (200 whatever it did); `error_code` when it failed."""

    __test__: ClassVar[bool] = False

    status: int
    headers: dict[str, str]
    body: str
    body_encoding: BodyEncoding
    stdout: str
    stderr: str
    duration_ms: float
    error_code: FunctionErrorCode | None = None
    error_message: str | None = None

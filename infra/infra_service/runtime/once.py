"""`host once`: one request from stdin, one TestInvocationResult (docs/contract.md) on stdout."""

import base64
import binascii
import json
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from infra_service.runtime.context import BytesSource
from infra_service.runtime.incoming import guest_request, invocation_id, route, well_known
from infra_service.runtime.invocation import Runner
from infra_service.runtime.manifest import ComponentManifest
from infra_service.runtime.replica import Limits
from infra_service.runtime.response import Headers, problem_body

MAX_CAPTURED_OUTPUT = 256 * 1024  # per stream, in the result


class TestRequest(BaseModel):
    method: str = Field(default="GET", pattern=r"^[A-Za-z]{1,16}$")
    path: str = Field(default="/", pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    body_encoding: Literal["utf-8", "base64"] = "utf-8"

    def body_bytes(self) -> bytes:
        if self.body_encoding == "base64":
            return base64.b64decode(self.body, validate=True)
        return self.body.encode()


def parse_request(raw: bytes) -> TestRequest:
    """The request read from stdin; ValueError when it is not a valid test request."""
    try:
        request = TestRequest.model_validate_json(raw)
        request.body_bytes()
    except (ValidationError, binascii.Error) as exc:
        raise ValueError(f"invalid test request: {exc}") from None
    return request


def encode_body(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"


class _Collected:
    def __init__(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.body = bytearray()

    def start(self, status: int, headers: Headers) -> None:
        self.status, self.headers = status, headers

    def write(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        pass


def result(
    *,
    status: int,
    headers: Headers,
    body: bytes,
    output: dict[str, list[str]],
    duration_ms: float,
    error_code: str | None,
    error_message: str | None,
) -> dict[str, Any]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        merged[key] = f"{merged[key]}, {text}" if key in merged else text
    text, encoding = encode_body(body)
    captured = {stream: "\n".join(lines)[:MAX_CAPTURED_OUTPUT] for stream, lines in output.items()}
    return {
        "status": status,
        "headers": merged,
        "body": text,
        "body_encoding": encoding,
        "stdout": captured["stdout"],
        "stderr": captured["stderr"],
        "duration_ms": duration_ms,
        "error_code": error_code,
        "error_message": error_message,
    }


def failure(*, status: int, code: str, title: str, detail: str) -> dict[str, Any]:
    body = problem_body(status=status, code=code, title=title, detail=detail, instance="test")
    headers = [(b"content-type", b"application/problem+json")]
    return result(
        status=status,
        headers=headers,
        body=body,
        output={"stdout": [], "stderr": []},
        duration_ms=0.0,
        error_code=code,
        error_message=detail,
    )


def run_once(
    *, runner: Runner, manifest: ComponentManifest, limits: Limits, request: TestRequest
) -> dict[str, Any]:
    """Run the test request through the same path as a served one."""
    headers = [(name.lower(), value.encode()) for name, value in request.headers.items()]
    path = request.path.split("?", 1)[0]
    fixed = well_known(path, manifest)
    matched = route(path, manifest) if fixed is None else None
    output: dict[str, list[str]] = {"stdout": [], "stderr": []}
    if fixed is not None or matched is None:
        status, kind, body = (
            (fixed.status, fixed.content_type, fixed.body) if fixed else (404, None, b"")
        )
        fixed_headers = [(b"content-type", kind.encode())] if kind else []
        return result(
            status=status,
            headers=fixed_headers,
            body=body,
            output=output,
            duration_ms=0.0,
            error_code=None,
            error_message=None,
        )
    body = request.body_bytes()
    if len(body) > limits.max_request_bytes:
        detail = f"the request body is larger than the {limits.max_request_bytes} bytes allowed"
        return failure(
            status=413, code="REQUEST_TOO_LARGE", title="Request too large", detail=detail
        )
    if not any(name == "host" for name, _ in headers):
        headers.append(("host", b"localhost"))
    guest = guest_request(
        method=request.method.upper(),
        path_with_query=request.path,
        scheme="http",
        headers=headers,
        matched=matched,
        client_addr="127.0.0.1:0",
    )
    collected = _Collected()
    outcome = runner.invoke(
        invocation_id=invocation_id(headers),
        request=guest,
        body=BytesSource(body),
        sink=collected,
        lines=lambda stream, line: output[stream].append(line),
    )
    return result(
        status=collected.status or outcome.status,
        headers=collected.headers,
        body=bytes(collected.body),
        output=output,
        duration_ms=outcome.duration_ms,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
    )


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)

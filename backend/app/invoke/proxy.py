"""The invoke proxy: one request to a function's endpoint, bounded in size and time.

The caller's method, path, query, headers (minus hop-by-hop ones and our credentials) and
body go to `<endpoint>/<path>?<query>`; the function's status, headers and body come back as
they are — its own 5xx and the gateway's problem+json included — plus `X-Invocation-Id` and
`X-Duration-Ms`. Only our own failures (the endpoint unreachable, too slow, too large an
answer) are our problem+json. Small bodies are buffered (the common case, and the cheapest);
larger ones stream, counted against the limits as they pass.
"""

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from app.config import Settings
from app.errors import (
    BadGateway,
    Conflict,
    DomainError,
    GatewayTimeout,
    PayloadTooLarge,
    ServiceUnavailable,
)

# Buffered below this size (both ways); streamed above it, up to the limits.
BUFFER_BYTES = 1024 * 1024
_INVOCATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
        "content-length", "expect",
    }
)  # fmt: skip
# Our credentials: the caller authenticated to us, not to the function.
OURS = frozenset({"authorization", "x-invocation-id"})
# Our server writes these on every answer; the function's copies would be duplicates.
OWN_RESPONSE_HEADERS = frozenset({"date", "server", "x-invocation-id", "x-duration-ms"})


@dataclass(frozen=True)
class ProxyLimits:
    max_request_bytes: int
    max_response_bytes: int
    timeout_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> "ProxyLimits":
        return cls(
            max_request_bytes=settings.invoke_max_request_bytes,
            max_response_bytes=settings.invoke_max_response_bytes,
            timeout_seconds=settings.invoke_timeout_seconds,
        )


def invoke_http_client(settings: Settings) -> httpx.AsyncClient:
    """The process's client for function endpoints: its own pool, no proxies from the env."""
    return httpx.AsyncClient(
        trust_env=False,
        timeout=httpx.Timeout(settings.invoke_timeout_seconds, connect=2.0, pool=5.0),
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        follow_redirects=False,
    )


_INVOKE_PATH = re.compile(r"^/api/functions/[^/]+/invoke(/|$)")


def is_invoke_path(path: str) -> bool:
    """The invoke routes, which bound the body themselves (INVOKE_MAX_REQUEST_BYTES)."""
    return _INVOKE_PATH.match(path) is not None


def invocation_id(request: Request) -> str:
    """The caller's X-Invocation-Id when valid (docs/contract.md), else a new one."""
    given = request.headers.get("x-invocation-id", "")
    return given if _INVOCATION_ID.match(given) else uuid.uuid4().hex


def not_deployed(function_id: str) -> Conflict:
    return Conflict(
        f"Function {function_id} is not deployed: deploy it first.", code="FUNCTION_NOT_DEPLOYED"
    )


class _TooLarge(Exception):
    pass


@dataclass
class Invocation:
    """The function's answer (status, headers) and how long it took, for the figures."""

    status: int
    duration_s: float


async def forward(
    *,
    http: httpx.AsyncClient,
    endpoint: str,
    path: str,
    request: Request,
    invocation: str,
    limits: ProxyLimits,
) -> tuple[Response, Invocation]:
    """Send the request to `endpoint` + `/path` and build the answer to our caller."""
    started = time.perf_counter()
    deadline = started + limits.timeout_seconds
    url = endpoint.rstrip("/") + "/" + _raw_rest(request, path)
    query = request.scope.get("query_string", b"")
    if query:
        url += "?" + query.decode("latin-1")
    upstream_request = http.build_request(
        request.method,
        url,
        headers=_request_headers(request, invocation),
        content=await _request_body(request, limits.max_request_bytes),
        timeout=httpx.Timeout(limits.timeout_seconds, connect=2.0, pool=5.0),
    )
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            upstream = await http.send(upstream_request, stream=True)
    except TimeoutError as exc:
        raise _timeout(limits.timeout_seconds) from exc
    except _TooLarge as exc:
        raise _request_too_large(limits.max_request_bytes) from exc
    except httpx.TimeoutException as exc:
        raise _timeout(limits.timeout_seconds) from exc
    except httpx.ConnectError as exc:
        raise ServiceUnavailable(
            "The function's endpoint cannot be reached right now; retry shortly.",
            code="FUNCTION_UNAVAILABLE",
            retry_after=1,
        ) from exc
    except httpx.HTTPError as exc:
        raise BadGateway(
            "The connection to the function failed before it answered.",
            code="FUNCTION_UNAVAILABLE",
        ) from exc
    try:
        return await _answer(upstream, request.method, invocation, started, deadline, limits)
    except BaseException:
        await upstream.aclose()
        raise


def _raw_rest(request: Request, path: str) -> str:
    """The path after `/invoke/` as the caller sent it (still percent-encoded: `%2F` stays one
    segment), or `path` re-encoded when the server gave no raw path."""
    raw = request.scope.get("raw_path")
    if raw:
        parts = raw.split(b"/", 5)  # "", "api", "functions", id, "invoke", rest
        return parts[5].decode("latin-1") if len(parts) > 5 else ""
    return quote(path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")


async def _request_body(request: Request, limit: int) -> bytes | AsyncIterator[bytes]:
    """The whole body when small and of known size, else a stream that stops at `limit`."""
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    if length is not None and length > limit:
        raise _request_too_large(limit)
    if length is not None and length <= BUFFER_BYTES:
        try:
            body = await request.body()
        except ClientDisconnect as exc:
            raise BadGateway("The caller went away mid-request.", code="CLIENT_GONE") from exc
        if len(body) > limit:
            raise _request_too_large(limit)
        return body

    async def stream() -> AsyncIterator[bytes]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _TooLarge
            if chunk:
                yield chunk

    return stream()


def _request_headers(request: Request, invocation: str) -> list[tuple[bytes, bytes]]:
    raw = request.headers.raw
    named = {
        token.strip().lower().encode()
        for name, value in raw
        if name == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    headers = [
        (name, value)
        for name, value in raw
        if name.decode("latin-1") not in HOP_BY_HOP
        and name.decode("latin-1") not in OURS
        and name not in named
    ]
    headers.append((b"x-invocation-id", invocation.encode()))
    return headers


async def _answer(
    upstream: httpx.Response,
    method: str,
    invocation: str,
    started: float,
    deadline: float,
    limits: ProxyLimits,
) -> tuple[Response, Invocation]:
    limit = limits.max_response_bytes
    declared = upstream.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _response_too_large(limit)
    headers = [
        (name, value)
        for name, value in upstream.headers.raw
        if name.lower().decode("latin-1") not in HOP_BY_HOP | OWN_RESPONSE_HEADERS
    ]
    chunks: list[bytes] = []
    buffered = 0
    raw = upstream.aiter_raw()
    complete = False
    try:
        while buffered <= BUFFER_BYTES:
            chunk = await _next_chunk(raw, deadline, limits)
            if chunk is None:
                complete = True
                break
            buffered += len(chunk)
            if buffered > limit:
                raise _response_too_large(limit)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise BadGateway("The function's answer broke off.", code="FUNCTION_UNAVAILABLE") from exc
    duration = time.perf_counter() - started
    headers += [
        (b"x-invocation-id", invocation.encode()),
        (b"x-duration-ms", f"{duration * 1000:.1f}".encode()),
    ]
    outcome = Invocation(status=upstream.status_code, duration_s=duration)
    if complete:
        await upstream.aclose()
        body = b"".join(chunks)
        if method == "HEAD" and declared:
            headers.append((b"content-length", declared.encode()))
        elif upstream.status_code >= 200 and upstream.status_code not in (204, 304):
            headers.append((b"content-length", str(len(body)).encode()))
        response = Response(content=None, status_code=upstream.status_code)
        response.body = body
        response.raw_headers = headers
        return response, outcome
    if declared:
        headers.append((b"content-length", declared.encode()))
    streaming = StreamingResponse(
        _rest(upstream, chunks, raw, buffered, deadline, limits),
        status_code=upstream.status_code,
    )
    streaming.raw_headers = headers
    return streaming, outcome


async def _next_chunk(
    raw: AsyncIterator[bytes], deadline: float, limits: ProxyLimits
) -> bytes | None:
    """The next chunk of the answer, None at its end; 504 past the deadline."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
            return await anext(raw)
    except StopAsyncIteration:
        return None
    except TimeoutError as exc:
        raise _timeout(limits.timeout_seconds) from exc


async def _rest(
    upstream: httpx.Response,
    head: list[bytes],
    raw: AsyncIterator[bytes],
    sent: int,
    deadline: float,
    limits: ProxyLimits,
) -> AsyncIterator[bytes]:
    """The buffered head, then the rest as it arrives; cut off past the limit or deadline."""
    try:
        for chunk in head:
            yield chunk
        while True:
            try:
                piece = await _next_chunk(raw, deadline, limits)
            except DomainError as exc:
                # The status line is out: a cut connection is the only honest signal left.
                raise RuntimeError(f"invoke: {exc.detail}; connection cut") from exc
            if piece is None:
                return
            sent += len(piece)
            if sent > limits.max_response_bytes:
                raise RuntimeError("invoke: the answer passed its size limit; connection cut")
            yield piece
    finally:
        await upstream.aclose()


def _request_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than the limit of {limit} bytes.",
        code="REQUEST_TOO_LARGE",
        limit_bytes=limit,
    )


def _response_too_large(limit: int) -> BadGateway:
    return BadGateway(
        f"The function's answer is larger than the limit of {limit} bytes.",
        code="RESPONSE_TOO_LARGE",
        limit_bytes=limit,
    )


def _timeout(seconds: float) -> GatewayTimeout:
    return GatewayTimeout(
        f"The function did not answer within {seconds:g} s.", code="FUNCTION_TIMEOUT"
    )

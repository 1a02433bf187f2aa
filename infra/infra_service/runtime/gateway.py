"""The gateway: one loopback port for every app; `/<namespace>/<name>/<rest>` goes to a replica.

`http://<gateway>/<namespace>/<name>/<rest>?<query>` is forwarded to a ready replica of the
app's current version (round robin) as `/<rest>?<query>`, bodies streamed both ways. Its own
answers are problem+json: FUNCTION_NOT_DEPLOYED (404), FUNCTION_SCALED_TO_ZERO (503),
FUNCTION_UNAVAILABLE (503, no replica became ready within a short wait), REQUEST_TOO_LARGE
(413), RESPONSE_TOO_LARGE (502), FUNCTION_TIMEOUT (504). Every answer carries
X-Invocation-Id (the caller's when valid, else a new one), and so does the forwarded request.
"""

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from infra_service.errors import problem
from infra_service.runtime.store import AppKey
from infra_service.runtime.supervisor import Replica

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Any
Send = Any

_LABEL = re.compile(rb"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INVOCATION_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-authenticate proxy-authorization proxy-connection te "
    b"trailer transfer-encoding upgrade host expect x-invocation-id".split()
)
REPLAYABLE_BYTES = 1024 * 1024  # bodies up to this are buffered, so a refused connect retries


@dataclass
class AppRoute:
    """What the gateway knows of one app: how many replicas it should have, and which serve."""

    key: AppKey
    replicas: int
    active: list[Replica] = field(default_factory=list)
    _turn: int = 0

    def pick(self, *, skip: set[str]) -> Replica | None:
        """The next ready replica, round robin; None when none is (`skip`: incarnations)."""
        ready = [r for r in self.active if r.ready and not r.draining and r.incarnation not in skip]
        if not ready:
            return None
        self._turn = (self._turn + 1) % len(ready)
        return ready[self._turn]


@dataclass(frozen=True)
class GatewayLimits:
    max_request_bytes: int
    max_response_bytes: int
    timeout_seconds: float  # the whole exchange, headers and body
    wait_ready_seconds: float  # how long a request waits for a replica to become ready


TITLES = {
    "NOT_FOUND": "Not found",
    "FUNCTION_NOT_DEPLOYED": "Function not deployed",
    "FUNCTION_SCALED_TO_ZERO": "Function scaled to zero",
    "FUNCTION_UNAVAILABLE": "Function unavailable",
    "FUNCTION_TIMEOUT": "Function timed out",
    "REQUEST_TOO_LARGE": "Request too large",
    "RESPONSE_TOO_LARGE": "Response too large",
}


class _Refusal(Exception):
    """An answer of the gateway's own (problem+json)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The service's own server handles SIGTERM/SIGINT; the lifespan stops this one.
        yield


class Gateway:
    """An ASGI app on its own uvicorn server, in the service's event loop."""

    def __init__(
        self, *, routes: dict[AppKey, AppRoute], limits: GatewayLimits, host: str, port: int
    ) -> None:
        self._routes = routes
        self._limits = limits
        self._host = host
        self._requested_port = port
        self.port = 0
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(
            # Plain HTTP to replicas on 127.0.0.1 only: no proxies, and no CA bundle to load.
            trust_env=False,
            verify=False,
            timeout=httpx.Timeout(limits.timeout_seconds, connect=2.0, pool=5.0),
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256),
        )

    def endpoint(self, key: AppKey) -> str:
        return f"http://{self._host}:{self.port}/{key.namespace}/{key.name}"

    async def start(self) -> None:
        """Bind and serve; OSError when the port cannot be bound."""
        sock = _listen(self._host, self._requested_port)
        config = uvicorn.Config(
            self,
            host=self._host,
            port=self._requested_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            backlog=2048,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="gateway")
        while not self._server.started:
            if self._task.done():
                await self._task
                where = f"{self._host}:{self._requested_port}"
                raise OSError(f"the gateway could not listen on {where}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("gateway listening on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        given = next((v for k, v in headers if k == b"x-invocation-id"), b"")
        invocation = given if _INVOCATION_ID.match(given) else uuid.uuid4().hex.encode()
        try:
            await self._forward(scope, receive, send, invocation)
        except _Refusal as refusal:
            await _send_problem(send, refusal, scope, invocation)
        except _ClientGone:
            return

    async def _forward(self, scope: Scope, receive: Receive, send: Send, invocation: bytes) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        parts = raw_path.split(b"/", 3)  # "", namespace, name, rest
        if len(parts) < 3 or not (_LABEL.match(parts[1]) and _LABEL.match(parts[2])):
            raise _Refusal(404, "NOT_FOUND", "Functions are served at /<namespace>/<name>/<path>.")
        key = AppKey(parts[1].decode(), parts[2].decode())
        route = self._routes.get(key)
        if route is None:
            raise _Refusal(404, "FUNCTION_NOT_DEPLOYED", f"Nothing is deployed as {key}.")
        if route.replicas == 0:
            raise _Refusal(
                503,
                "FUNCTION_SCALED_TO_ZERO",
                f"{key} is deployed with 0 replicas; scale it up to call it.",
            )
        path = b"/" + (parts[3] if len(parts) > 3 else b"")
        body = await self._request_body(scope, receive)
        deadline = time.monotonic() + self._limits.timeout_seconds
        upstream, replica = await self._send_upstream(
            scope, route, path, body, invocation, deadline
        )
        try:
            await self._relay(upstream, send, invocation, deadline)
        finally:
            replica.in_flight -= 1
            await upstream.aclose()

    async def _request_body(self, scope: Scope, receive: Receive) -> bytes | AsyncIterator[bytes]:
        """The whole body when small and of known size (replayable), else a bounded stream."""
        limit = self._limits.max_request_bytes
        headers = dict(scope["headers"])
        length_header = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        length = int(length_header) if length_header and length_header.isdigit() else None
        if length is not None and length > limit:
            raise _Refusal(
                413,
                "REQUEST_TOO_LARGE",
                f"The request body is {length} bytes; the limit is {limit}.",
            )
        if not chunked and (length is None or length <= REPLAYABLE_BYTES):
            try:
                return b"".join([chunk async for chunk in _receive_body(receive, limit)])
            except _TooLarge as exc:
                raise _Refusal(413, "REQUEST_TOO_LARGE", str(exc)) from exc
        return _receive_body(receive, limit)

    async def _send_upstream(
        self,
        scope: Scope,
        route: AppRoute,
        path: bytes,
        body: bytes | AsyncIterator[bytes],
        invocation: bytes,
        deadline: float,
    ) -> tuple[httpx.Response, Replica]:
        """Send to a ready replica; one that refuses the connection is skipped until it has
        restarted, and a request waits a little for a replica to become ready."""
        tried: set[str] = set()
        wait_until = time.monotonic() + self._limits.wait_ready_seconds
        while True:
            replica = route.pick(skip=tried)
            if replica is None:
                if time.monotonic() >= wait_until:
                    raise _Refusal(
                        503,
                        "FUNCTION_UNAVAILABLE",
                        f"No replica of {route.key} is ready; retry shortly.",
                    )
                await asyncio.sleep(0.02)
                continue
            request = self._client.build_request(
                scope["method"],
                _upstream_url(replica, path, scope.get("query_string", b"")),
                headers=_forwarded_headers(scope, invocation),
                content=body,
            )
            replica.in_flight += 1
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    return await self._client.send(request, stream=True), replica
            except BaseException as exc:
                # Whatever ended it (the caller gone mid-body, a cancel too), it is no longer
                # in flight: a leaked count would make every retire wait out its drain time.
                replica.in_flight -= 1
                if isinstance(exc, TimeoutError):
                    raise _timeout(self._limits.timeout_seconds) from exc
                if isinstance(exc, _TooLarge):
                    raise _Refusal(413, "REQUEST_TOO_LARGE", str(exc)) from exc
                if not isinstance(exc, httpx.TransportError):
                    raise
                # Only a refused connect is retried: nothing reached the function. After any
                # other failure it may have run, and running it twice is worse than a 502.
                if isinstance(exc, httpx.ConnectError):
                    tried.add(replica.incarnation)
                    log.info(
                        "replica %s/%s failed (%r); trying another", route.key, replica.id, exc
                    )
                    continue
                raise _Refusal(
                    502, "FUNCTION_UNAVAILABLE", f"The replica of {route.key} failed mid-request."
                ) from exc

    async def _relay(
        self, upstream: httpx.Response, send: Send, invocation: bytes, deadline: float
    ) -> None:
        limit = self._limits.max_response_bytes
        length = upstream.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise _Refusal(
                502,
                "RESPONSE_TOO_LARGE",
                f"The function answered {length} bytes; the limit is {limit}.",
            )
        # The gateway's own server writes the Date header; the replica's would make two.
        headers = [
            (k, v)
            for k, v in upstream.headers.raw
            if k.lower() not in HOP_BY_HOP and k.lower() != b"date"
        ]
        headers.append((b"x-invocation-id", invocation))
        await send(
            {"type": "http.response.start", "status": upstream.status_code, "headers": headers}
        )
        sent = 0
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            async for chunk in upstream.aiter_raw():
                sent += len(chunk)
                if sent > limit:
                    # Headers are out: the only honest signal left is a cut connection.
                    raise RuntimeError(f"response over {limit} bytes; connection cut")
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here: uvicorn's bind failure ends the whole process."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it every
    # kept-alive answer (headers, then body) waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class _TooLarge(Exception):
    """The request body went over the limit while streaming."""


class _ClientGone(Exception):
    """The client disconnected before its body was in."""


async def _receive_body(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise _TooLarge(f"The request body is over the limit of {limit} bytes.")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _upstream_url(replica: Replica, path: bytes, query: bytes) -> str:
    url = f"http://127.0.0.1:{replica.port}{path.decode('latin-1')}"
    return f"{url}?{query.decode('latin-1')}" if query else url


def _forwarded_headers(scope: Scope, invocation: bytes) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
    host = next((v for k, v in scope["headers"] if k == b"host"), b"")
    client = (scope.get("client") or ("", 0))[0]
    headers += [(b"x-invocation-id", invocation), (b"x-forwarded-proto", b"http")]
    if host:
        headers.append((b"x-forwarded-host", host))
    if client:
        headers.append((b"x-forwarded-for", client.encode()))
    return headers


def _timeout(seconds: float) -> _Refusal:
    return _Refusal(504, "FUNCTION_TIMEOUT", f"The function did not answer within {seconds:.0f} s.")


async def _send_problem(send: Send, refusal: _Refusal, scope: Scope, invocation: bytes) -> None:
    body = json.dumps(
        problem(
            status=refusal.status,
            code=refusal.code,
            title=TITLES[refusal.code],
            detail=refusal.detail,
            instance=scope.get("path", ""),
        )
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-invocation-id", invocation),
    ]
    if refusal.status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

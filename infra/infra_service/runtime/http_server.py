"""The replica's HTTP side: a small ASGI app under uvicorn; the guest runs in worker threads.

uvicorn (httptools/uvloop) parses HTTP and shuts down gracefully on SIGTERM; each request
waits for one of `concurrency` worker threads, where the guest runs with the GIL released
while in wasm. Bodies cross between the event loop and the worker one chunk at a time.
"""

import asyncio
import concurrent.futures
import logging
import signal
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

import uvicorn

from infra_service.runtime.app import AppServices
from infra_service.runtime.context import BodySource
from infra_service.runtime.events import EventWriter
from infra_service.runtime.incoming import guest_request, invocation_id, route, well_known
from infra_service.runtime.invocation import Runner
from infra_service.runtime.manifest import RouteMatch
from infra_service.runtime.replica import ReplicaConfig
from infra_service.runtime.response import Headers, problem_body

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
SEND_TIMEOUT = 30.0  # a client that reads nothing for this long is given up on


class _CutAnswer(Exception):
    """Raised to uvicorn so that it drops a connection whose answer cannot be completed."""


class _AsgiBody(BodySource):
    """Pulls the request body from uvicorn on the worker thread, as the guest reads it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Any) -> None:
        self._loop, self._receive = loop, receive
        self._held = b""
        self._done = False

    def read(self, size: int, *, timeout: float) -> bytes | None:
        while not self._held and not self._done:
            future = asyncio.run_coroutine_threadsafe(self._receive(), self._loop)
            try:
                message = future.result(timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                return b""  # the caller re-checks its deadline and waits again
            if message["type"] == "http.disconnect":
                self._done = True
            else:
                self._held = message.get("body", b"")
                self._done = not message.get("more_body", False)
        if not self._held:
            return None
        chunk, self._held = self._held[:size], self._held[size:]
        return chunk


class _AsgiSink:
    """Sends the answer through uvicorn from the worker thread; a vanished client is ignored."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Any, invocation: str) -> None:
        self._loop, self._send = loop, send
        self._id = invocation.encode()
        self.gone = False

    def _call(self, message: Message) -> None:
        if self.gone:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._send(message), self._loop).result(SEND_TIMEOUT)
        except Exception:
            self.gone = True

    def start(self, status: int, headers: Headers) -> None:
        headers = [*headers, (b"x-invocation-id", self._id)]
        self._call({"type": "http.response.start", "status": status, "headers": headers})

    def write(self, chunk: bytes) -> None:
        self._call({"type": "http.response.body", "body": chunk, "more_body": True})

    def finish(self) -> None:
        self._call({"type": "http.response.body", "body": b"", "more_body": False})


class ReplicaApp:
    """The ASGI application of one replica."""

    def __init__(
        self, *, runner: Runner, app: AppServices, config: ReplicaConfig, events: EventWriter
    ) -> None:
        self._runner, self._app, self._events = runner, app, events
        self._limits = config.limits
        self._workers = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.limits.concurrency, thread_name_prefix="guest"
        )

    def close(self) -> None:
        self._workers.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(n.decode("latin-1").lower(), v) for n, v in scope["headers"]]
        invocation = invocation_id(headers)
        path = scope["path"]
        fixed = well_known(path, self._app.manifest)
        matched = route(path, self._app.manifest) if fixed is None else None
        if fixed is not None or matched is None:
            status, kind, body = (
                (fixed.status, fixed.content_type, fixed.body) if fixed else (404, None, b"")
            )
            await _answer(send, status, kind, body, invocation)
            return
        declared = next((v for n, v in headers if n == "content-length"), b"")
        if declared.isdigit() and int(declared) > self._limits.max_request_bytes:
            detail = f"the request declares more than {self._limits.max_request_bytes} bytes"
            body = problem_body(
                status=413,
                code="REQUEST_TOO_LARGE",
                title="Request too large",
                detail=detail,
                instance=invocation,
            )
            await _answer(send, 413, "application/problem+json", body, invocation)
            self._record(invocation, scope, 413, 0.0, "REQUEST_TOO_LARGE")
            return
        await self._invoke(scope, receive, send, headers, matched, invocation)

    async def _invoke(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        headers: list[tuple[str, bytes]],
        matched: RouteMatch,
        invocation: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        path_with_query = raw_path.decode("latin-1") + (
            "?" + query.decode("latin-1") if query else ""
        )
        client = scope.get("client") or ("127.0.0.1", 0)
        request = guest_request(
            method=scope["method"],
            path_with_query=path_with_query,
            scheme=scope.get("scheme", "http"),
            headers=headers,
            matched=matched,
            client_addr=f"{client[0]}:{client[1]}",
        )
        sink = _AsgiSink(loop, send, invocation)

        def line(stream: str, message: str) -> None:
            self._events.log(stream=stream, invocation_id=invocation, message=message)

        call = partial(
            self._runner.invoke,
            invocation_id=invocation,
            request=request,
            body=_AsgiBody(loop, receive),
            sink=sink,
            lines=line,
        )
        # At most `concurrency` run; the others wait their turn in the executor's queue (the
        # time limit starts when the guest does).
        outcome = await loop.run_in_executor(self._workers, call)
        self._record(invocation, scope, outcome.status, outcome.duration_ms, outcome.error_code)
        if outcome.aborted and not sink.gone:
            # The answer had started: cutting the connection is the only honest signal left.
            raise _CutAnswer(f"invocation {invocation} failed after its answer started")

    def _record(
        self, invocation: str, scope: Scope, status: int, duration_ms: float, error_code: str | None
    ) -> None:
        self._events.invocation(
            invocation_id=invocation,
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=duration_ms,
            error_code=error_code,
        )


async def _answer(
    send: Any, status: int, content_type: str | None, body: bytes, invocation: str
) -> None:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"x-invocation-id", invocation.encode()),
    ]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Server(uvicorn.Server):
    """uvicorn's server, telling us when it accepts connections (it only keeps a flag)."""

    on_started: Callable[[], None] = staticmethod(lambda: None)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.on_started()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(False)
    return sock


async def serve(*, app: ReplicaApp, config: ReplicaConfig, on_ready: Callable[[int], None]) -> None:
    """Serve until SIGTERM/SIGINT, then finish the requests in flight (bounded) and return."""
    sock = _bind(config.listen.host, config.listen.port)
    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(config.limits.timeout_ms / 1000) + 2,
            limit_concurrency=max(64, config.limits.concurrency * 16),
            timeout_keep_alive=5,
        )
    )
    # uvicorn re-raises the signal it caught once it has shut down; a no-op handler makes
    # that re-raise harmless, so the process ends with status 0 after a graceful stop.
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, lambda *_: None)
    server.on_started = lambda: on_ready(sock.getsockname()[1])
    await server.serve(sockets=[sock])

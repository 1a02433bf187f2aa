"""The gateway's count of a replica's in-flight requests, which a retire waits on to drain."""

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

from infra_service.runtime.gateway import AppRoute, Gateway, GatewayLimits
from infra_service.runtime.store import AppKey


async def test_a_caller_gone_mid_body_leaves_no_request_in_flight() -> None:
    # A replica that accepts connections (the kernel's backlog does) and never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        replica: Any = SimpleNamespace(
            id="r0", incarnation="r0-1", port=listener.getsockname()[1],
            ready=True, draining=False, in_flight=0,
        )  # fmt: skip
        key = AppKey("faas-ws", "hello")
        gateway = Gateway(
            routes={key: AppRoute(key=key, replicas=1, active=[replica])},
            limits=GatewayLimits(
                max_request_bytes=1 << 20,
                max_response_bytes=1 << 20,
                timeout_seconds=5.0,
                wait_ready_seconds=0.1,
            ),
            host="127.0.0.1",
            port=0,
        )
        # A chunked body whose sender goes away after the first chunk (as the control plane
        # does when a streamed body passes its own limit).
        messages = iter(
            [
                {"type": "http.request", "body": b"x" * 1024, "more_body": True},
                {"type": "http.disconnect"},
            ]
        )

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0.01)
            return next(messages)

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http", "method": "POST", "path": "/faas-ws/hello/up",
            "raw_path": b"/faas-ws/hello/up", "query_string": b"",
            "headers": [(b"host", b"gw"), (b"transfer-encoding", b"chunked")],
        }  # fmt: skip
        try:
            await asyncio.wait_for(gateway(scope, receive, send), timeout=10)
        finally:
            await gateway.stop()
        assert replica.in_flight == 0  # else a retire waits out its whole drain time

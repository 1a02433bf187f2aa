"""The text/event-stream response: a subscriber's frames, heartbeats, and the cut-off.

Written as a plain ASGI response rather than a StreamingResponse so that a client that stops
reading can be cut off: the send that waits on its full socket is cancelled when the
subscriber's queue overflows, and the connection is closed with the response unfinished.
"""

import asyncio
import contextlib
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.events.channels import Subscriber
from app.observability.metrics import record_sse_cut_off

EVENT_STREAM_HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each frame on at once
}


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self, subscriber: Subscriber, *, heartbeat_seconds: float, on_close: Callable[[], None]
    ) -> None:
        super().__init__(status_code=200, headers=EVENT_STREAM_HEADERS)
        # No Content-Length (Response adds "0" for an empty body): the body is a stream.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._subscriber = subscriber
        self._heartbeat = heartbeat_seconds
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            pump = asyncio.create_task(self._pump(send))
            gone = asyncio.create_task(_disconnected(receive))
            cut = asyncio.create_task(self._subscriber.cut.wait())
            try:
                await asyncio.wait({pump, gone, cut}, return_when=asyncio.FIRST_COMPLETED)
                if cut.done():
                    record_sse_cut_off()
            finally:
                for task in (pump, gone, cut):
                    task.cancel()
                for task in (pump, gone, cut):
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
        finally:
            self._on_close()

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
        while True:
            frame = await self._subscriber.next(idle_seconds=self._heartbeat)
            if frame is None:
                break
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if not self._subscriber.cut.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

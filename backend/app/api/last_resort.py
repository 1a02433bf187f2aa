"""The last handler: an error that escaped every other one becomes a logged 500 problem.

Starlette answers such errors from its outermost layer, outside every middleware, so that
answer would lack the security headers; this layer sits just inside `SecurityHeaders`.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response

log = logging.getLogger(__name__)


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            if started:
                raise  # too late for an answer; the server closes the connection
            response = problem_response(
                status=500,
                code="INTERNAL_ERROR",
                title="Internal server error",
                detail="An unexpected error occurred; it has been logged.",
                instance=scope["path"],
            )
            await response(scope, receive, send)

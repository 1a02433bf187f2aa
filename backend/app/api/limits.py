"""Request body limits, enforced while the body arrives (before it is parsed or stored)."""

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response

# Room for the multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413: at once by Content-Length, else while reading.

    Paths for which `is_upload` holds may carry a file of `upload_limit` bytes (plus the
    multipart framing around it); every other path gets `default`. The refusal names the
    limit the client knows: the file limit on uploads.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, upload_limit: int, is_upload: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.default = default
        self.upload_limit = upload_limit
        self.is_upload = is_upload

    def _limits_for(self, path: str) -> tuple[int, int]:
        """(bytes accepted on the wire, the limit named in the refusal)."""
        if self.is_upload(path):
            return self.upload_limit + MULTIPART_OVERHEAD, self.upload_limit
        return self.default, self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, named = self._limits_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, named)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # Stop the body here: the parser sees a truncated request and fails fast.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's own answer to the cut-off body is replaced below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, named)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            status=413,
            code="PAYLOAD_TOO_LARGE",
            title="Payload too large",
            detail=f"The request is larger than the limit of {limit} bytes "
            f"({limit / (1024 * 1024):g} MiB)",
            instance=scope["path"],
            limit_bytes=limit,
        )
        await response(scope, receive, send)


def is_upload_path(path: str) -> bool:
    """The routes that take a source file."""
    return path in {"/api/v1/build", "/api/v1/build-and-push"} or (
        path.startswith("/api/functions/") and path.endswith("/deploy")
    )

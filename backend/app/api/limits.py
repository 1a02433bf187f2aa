"""Request limits: the head (header size and count, 431) and the body (413).

Both are enforced before anything is parsed or stored: the head by the server's protocol
(app.api.http_protocol) and again here, the body while it arrives.
"""

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TYPE_BASE, problem_response

# Room for the multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
# The request line and all headers together; a browser with cookies and a bearer token sends
# a few KiB. And how many headers at most.
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADERS = 100


def header_problem(detail: str) -> dict[str, Any]:
    """The 431 problem document (also written by the HTTP protocol, outside the app)."""
    return {
        "type": TYPE_BASE + "request-headers-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": detail,
        "code": "REQUEST_HEADERS_TOO_LARGE",
        "limit_bytes": MAX_HEAD_BYTES,
        "limit_headers": MAX_HEADERS,
    }


class HeaderLimit:
    """431 for a request whose headers pass MAX_HEADERS or MAX_HEAD_BYTES, before anything else.

    The server's protocol refuses such a head before it is buffered; this is the same rule
    for a server started without it (and for requests that reach the app over ASGI).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            size += sum(len(name) + len(value) + 4 for name, value in headers)
            detail = None
            if len(headers) > MAX_HEADERS:
                detail = f"The request has more than {MAX_HEADERS} headers."
            elif size > MAX_HEAD_BYTES:
                detail = f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes."
            if detail is not None:
                body = header_problem(detail)
                extra = {k: v for k, v in body.items() if k not in _PROBLEM_FIELDS}
                response = problem_response(
                    status=431,
                    code=body["code"],
                    title=body["title"],
                    detail=detail,
                    instance=scope["path"],
                    headers={"Connection": "close"},
                    **extra,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413: at once by Content-Length, else while reading.

    Paths for which `is_upload` holds may carry a file of `upload_limit` bytes (plus the
    multipart framing around it); every other path gets `default`. The refusal names the
    limit the client knows: the file limit on uploads.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        upload_limit: int,
        is_upload: Callable[[str], bool],
        bounds_itself: Callable[[str], bool] = lambda path: False,
    ) -> None:
        """`bounds_itself(path)`: the route enforces its own limit (the invoke proxy)."""
        self.app = app
        self.default = default
        self.upload_limit = upload_limit
        self.is_upload = is_upload
        self.bounds_itself = bounds_itself

    def _limits_for(self, path: str) -> tuple[int, int]:
        """(bytes accepted on the wire, the limit named in the refusal)."""
        if self.is_upload(path):
            return self.upload_limit + MULTIPART_OVERHEAD, self.upload_limit
        return self.default, self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.bounds_itself(scope["path"]):
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

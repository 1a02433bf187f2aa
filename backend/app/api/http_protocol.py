"""uvicorn's httptools protocol with the request head bounded, answering problem+json itself.

Neither of uvicorn's HTTP implementations answers 431: httptools buffers a header of any size
(a 50 MB header was read into memory before authentication), and h11 answers an oversized
head with a plain-text 400. This protocol counts the request line and headers while they
arrive and, past `MAX_HEAD_BYTES` or `MAX_HEADERS`, answers 431 and closes the connection
before the application sees anything. Its own error answers (431, and 400 for a request that
is not HTTP) are problem+json with the security headers, like every other answer.

Run it with `uvicorn app.main:app --http app.api.http_protocol:BoundedHttpToolsProtocol`
(`make run`, the Dockerfile and docker-compose.yml do). `app.api.limits.HeaderLimit` checks the
same bounds inside the app, for servers started otherwise.
"""

import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.api.limits import MAX_HEAD_BYTES, MAX_HEADERS, header_problem
from app.api.security_headers import API_HEADERS
from app.errors import PROBLEM_JSON, TYPE_BASE

LINGER_SECONDS = 2.0


class _HeadTooLarge(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0  # bytes received while the head was still incomplete
        self._header_bytes = 0  # request line and the headers parsed so far
        self._header_count = 0
        self._refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._header_bytes = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            raise _HeadTooLarge(f"The request has more than {MAX_HEADERS} headers.")
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge(_too_large_detail())

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request, read and dropped until the close
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            # A callback's own exception arrives as the context of the parser's error.
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(431, exc.__context__.detail)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            # The head is still incomplete, so all of this chunk belongs to it (httptools
            # holds a partial header back until it ends: count it here, not in on_header).
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, _too_large_detail())

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def _refuse(self, status: int, detail: str) -> None:
        if status == 431:
            body = header_problem(detail)
        else:
            body = {
                "type": TYPE_BASE + "invalid-http-request",
                "title": "Bad request",
                "status": 400,
                "detail": detail,
                "code": "INVALID_HTTP_REQUEST",
            }
        content = json.dumps(body).encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(content)).encode()),
            (b"connection", b"close"),
            *((name.encode(), value.encode()) for name, value in API_HEADERS.items()),
        ]
        head = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in headers)]
        self.transport.write(b"".join([*head, b"\r\n", content]))
        # A lingering close: closing with the client's bytes unread would reset the connection,
        # and a reset can destroy the answer before the client reads it. So stop writing,
        # drop what still arrives for a moment, then close.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def _too_large_detail() -> str:
    return f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes."

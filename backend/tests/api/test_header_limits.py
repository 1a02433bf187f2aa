"""Request heads are bounded (431) before the app sees them, on a real uvicorn server.

The server runs as `make run` and the Dockerfile start it (uvicorn with
app.api.http_protocol's protocol), on loopback, against the test's AWS emulation. Requests are
written on raw sockets, so that nothing on the client side trims or rejects them first.
"""

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.api.limits import MAX_HEAD_BYTES, MAX_HEADERS
from app.config import Settings
from app.main import create_app
from tests.api.support import serving

MIB = 1024 * 1024
Address = tuple[str, int]


class Recording:
    """The app, noting each request that reaches it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def recording(settings: Settings) -> Recording:
    return Recording(create_app(settings))


@pytest.fixture
def server(recording: Recording) -> Iterator[Address]:
    with serving(recording) as url:  # type: ignore[arg-type]
        parts = urlsplit(url)
        yield parts.hostname or "127.0.0.1", parts.port or 80


def _exchange(address: tuple[str, int], head: bytes, *, filler: int = 0) -> tuple[bytes, int]:
    """Send `head` (then up to `filler` more bytes of one header), read the whole answer.

    Returns the answer and how many bytes were sent before the server stopped reading.
    """
    sent = 0
    with socket.create_connection(address, timeout=20) as sock:
        try:
            sock.sendall(head)
            sent = len(head)
            chunk = b"a" * 65536
            while sent < len(head) + filler:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what we wanted
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return answer, sent


def _parse(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, json.loads(body) if body else {}


def _assert_problem(answer: bytes, status: int, code: str) -> dict:
    got, headers, body = _parse(answer)
    assert got == status, answer[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert body["status"] == status and body["code"] == code
    return body


def test_a_50_mib_header_is_refused_with_431_before_the_app_sees_it(
    server: Address, recording: Recording
) -> None:
    head = b"GET /api/workspaces HTTP/1.1\r\nHost: x\r\nX-Huge: "
    answer, _ = _exchange(server, head, filler=50 * MIB)
    body = _assert_problem(answer, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert body["limit_bytes"] == MAX_HEAD_BYTES
    assert recording.paths == []  # refused by the server's protocol, not the app


def test_a_head_over_the_size_limit_in_one_piece_is_431(
    server: Address, recording: Recording
) -> None:
    big = b"X-Big: " + b"a" * (MAX_HEAD_BYTES + 1) + b"\r\n"
    answer, _ = _exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    _assert_problem(answer, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert recording.paths == []


def test_many_headers_that_add_up_past_the_size_limit_are_431(server: Address) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 900) for i in range(40))
    answer, _ = _exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    _assert_problem(answer, 431, "REQUEST_HEADERS_TOO_LARGE")


def test_more_headers_than_allowed_are_431_and_as_many_as_allowed_pass(server: Address) -> None:
    def request(count: int) -> bytes:
        extra = b"".join(b"X-H%d: v\r\n" % i for i in range(count - 2))
        return b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"

    refused, _ = _exchange(server, request(MAX_HEADERS + 1))
    body = _assert_problem(refused, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert str(MAX_HEADERS) in body["detail"]
    accepted, _ = _exchange(server, request(MAX_HEADERS))
    assert _parse(accepted)[0] == 200


def test_a_long_url_counts_towards_the_head(server: Address) -> None:
    path = b"/api/workspaces?x=" + b"a" * MAX_HEAD_BYTES
    answer, _ = _exchange(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    _assert_problem(answer, 431, "REQUEST_HEADERS_TOO_LARGE")


def test_a_request_that_is_not_http_is_a_400_problem(server: Address) -> None:
    answer, _ = _exchange(server, b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n")
    _assert_problem(answer, 400, "INVALID_HTTP_REQUEST")


def test_a_big_head_after_a_normal_request_on_the_same_connection_is_431(server: Address) -> None:
    with socket.create_connection(server, timeout=20) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"healthy"}'):
            first += sock.recv(65536)
        assert _parse(first)[0] == 200
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2 * MAX_HEAD_BYTES)
        second = b""
        try:
            while data := sock.recv(65536):
                second += data
        except ConnectionResetError:
            pass
    _assert_problem(second, 431, "REQUEST_HEADERS_TOO_LARGE")


async def test_the_app_itself_refuses_too_many_headers_when_served_otherwise(
    client: httpx.AsyncClient,
) -> None:
    # Over ASGI (or any server without the protocol), app.api.limits.HeaderLimit applies.
    headers = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 1)}
    answer = await client.get("/api/workspaces", headers=headers)
    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "REQUEST_HEADERS_TOO_LARGE"
    assert answer.headers["x-frame-options"] == "DENY"
    big = await client.get("/api/workspaces", headers={"x-big": "a" * (MAX_HEAD_BYTES + 1)})
    assert big.status_code == 431

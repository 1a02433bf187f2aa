"""wasi:io — streams, pollables and errors, as host objects behind the guest's handles."""

import time
from collections.abc import Callable
from typing import Any

from wasmtime.component import Variant

from infra_service.runtime.context import REQUEST_TOO_LARGE, BodySource, HostTrap, Invocation
from infra_service.runtime.response import ResponseWriter
from infra_service.runtime.wit_values import Err, Ok

WRITE_BUDGET = 64 * 1024  # what check-write grants at a time
CLOSED = Variant("closed")


class IoError:
    def __init__(self, message: str) -> None:
        self.message = message


class Pollable:
    def ready(self) -> bool:
        return True

    def ready_at(self) -> float | None:
        """When it becomes ready by itself (monotonic seconds), or None if only the guest can."""
        return None


class Timer(Pollable):
    def __init__(self, at_ns: int) -> None:
        self.at = at_ns / 1e9

    def ready(self) -> bool:
        return time.monotonic() >= self.at

    def ready_at(self) -> float | None:
        return self.at


class Deferred(Pollable):
    """Ready when `check()` says so (checking may do the work, e.g. send an outbound request)."""

    def __init__(self, check: Callable[[], bool]) -> None:
        self._check = check

    def ready(self) -> bool:
        return self._check()


def wait_for(inv: Invocation, pollables: list[Pollable]) -> list[int]:
    """Indices of the ready pollables, sleeping (within the deadline) until one is."""
    if not pollables:
        raise HostTrap("poll called with no pollables")
    while True:
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        times = [at for p in pollables if (at := p.ready_at()) is not None]
        if not times:
            raise HostTrap("the function waits on something that can never become ready")
        left = inv.remaining()
        time.sleep(max(0.0, min(min(times) - time.monotonic(), left)))


class InputStream:
    def read(self, inv: Invocation, size: int) -> bytes | None:
        """Up to `size` bytes (at least one), or None once the stream has ended."""
        return None


class BytesInput(InputStream):
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    def read(self, inv: Invocation, size: int) -> bytes | None:
        if self._offset >= len(self._data):
            return None
        chunk = bytes(self._data[self._offset : self._offset + size])
        self._offset += len(chunk)
        return chunk


class RequestBodyInput(InputStream):
    """The incoming request's body, pulled from the client as the guest reads; capped."""

    def __init__(self, source: BodySource, *, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._read = 0

    def read(self, inv: Invocation, size: int) -> bytes | None:
        chunk = self._source.read(min(size, WRITE_BUDGET), timeout=inv.remaining())
        if chunk is None:
            return None
        self._read += len(chunk)
        if self._read > self._limit:
            raise HostTrap(
                f"the request body is larger than the {self._limit} bytes allowed",
                code=REQUEST_TOO_LARGE,
            )
        return chunk


class OutputStream:
    def __init__(self) -> None:
        self.closed = False

    def write(self, inv: Invocation, data: bytes) -> None:
        raise NotImplementedError


class LogOutput(OutputStream):
    def __init__(self, stream: str) -> None:
        super().__init__()
        self.stream = stream

    def write(self, inv: Invocation, data: bytes) -> None:
        inv.output.write(self.stream, data)


class ResponseOutput(OutputStream):
    def __init__(self, writer: ResponseWriter) -> None:
        super().__init__()
        self._writer = writer

    def write(self, inv: Invocation, data: bytes) -> None:
        self._writer.write(data)


class BufferOutput(OutputStream):
    """Collects an outbound request body, up to a limit."""

    def __init__(self, *, limit: int) -> None:
        super().__init__()
        self.data = bytearray()
        self._limit = limit

    def write(self, inv: Invocation, data: bytes) -> None:
        if len(self.data) + len(data) > self._limit:
            raise HostTrap(f"an outbound request body is larger than {self._limit} bytes")
        self.data += data


def _read(inv: Invocation, stream: InputStream, size: int) -> Ok | Err:
    data = stream.read(inv, min(size, WRITE_BUDGET)) if size else b""
    return Err(CLOSED) if data is None else Ok(data)


def _skip(inv: Invocation, stream: InputStream, size: int) -> Ok | Err:
    result = _read(inv, stream, size)
    return Ok(len(result.value)) if isinstance(result, Ok) else result


def _check_write(inv: Invocation, stream: OutputStream) -> Ok | Err:
    return Err(CLOSED) if stream.closed else Ok(WRITE_BUDGET)


def _write(inv: Invocation, stream: OutputStream, data: bytes) -> Ok | Err:
    if stream.closed:
        return Err(CLOSED)
    stream.write(inv, data)
    return Ok()


def _write_zeroes(inv: Invocation, stream: OutputStream, size: int) -> Ok | Err:
    if size > WRITE_BUDGET:
        raise HostTrap(f"write-zeroes of {size} bytes exceeds what check-write allows")
    return _write(inv, stream, bytes(size))


def _flush(inv: Invocation, stream: OutputStream) -> Ok | Err:
    return Err(CLOSED) if stream.closed else Ok()


def _splice(inv: Invocation, out: OutputStream, source: InputStream, size: int) -> Ok | Err:
    data = source.read(inv, min(size, WRITE_BUDGET)) if size else b""
    if data is None:
        return Err(CLOSED)
    result = _write(inv, out, data)
    return Ok(len(data)) if isinstance(result, Ok) else result


def _poll(inv: Invocation, pollables: list[Pollable]) -> list[int]:
    return wait_for(inv, pollables)


def _block(inv: Invocation, pollable: Pollable) -> None:
    wait_for(inv, [pollable])


FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "wasi:io/error@0.2.0": {
        "[method]error.to-debug-string": lambda inv, error: error.message,
    },
    "wasi:io/poll@0.2.0": {
        "[method]pollable.ready": lambda inv, pollable: pollable.ready(),
        "[method]pollable.block": _block,
        "poll": _poll,
    },
    "wasi:io/streams@0.2.0": {
        "[method]input-stream.read": _read,
        "[method]input-stream.blocking-read": _read,
        "[method]input-stream.skip": _skip,
        "[method]input-stream.blocking-skip": _skip,
        "[method]input-stream.subscribe": lambda inv, stream: Pollable(),
        "[method]output-stream.check-write": _check_write,
        "[method]output-stream.write": _write,
        "[method]output-stream.blocking-write-and-flush": _write,
        "[method]output-stream.flush": _flush,
        "[method]output-stream.blocking-flush": _flush,
        "[method]output-stream.subscribe": lambda inv, stream: Pollable(),
        "[method]output-stream.write-zeroes": _write_zeroes,
        "[method]output-stream.blocking-write-zeroes-and-flush": _write_zeroes,
        "[method]output-stream.splice": _splice,
        "[method]output-stream.blocking-splice": _splice,
    },
}

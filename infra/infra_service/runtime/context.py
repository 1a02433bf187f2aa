"""What one invocation's host calls share: its resource table, deadline, output and failure.

Host functions run on the thread that called into the guest, so the invocation in progress is
found through a thread-local (`current()`), set for the length of one call into the guest.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra_service.runtime.app import AppServices
    from infra_service.runtime.guest_output import GuestOutput
    from infra_service.runtime.response import ResponseWriter

FUNCTION_TIMEOUT = "FUNCTION_TIMEOUT"
FUNCTION_MEMORY_LIMIT = "FUNCTION_MEMORY_LIMIT"
FUNCTION_ERROR = "FUNCTION_ERROR"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"


class HostTrap(Exception):
    """Ends the invocation with a trap; `code` says which of our limits or rules ended it."""

    def __init__(self, message: str, *, code: str = FUNCTION_ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GuestExit(HostTrap):
    """The guest called wasi:cli/exit: the call into it ends, which is not itself a failure."""

    def __init__(self, success: bool) -> None:
        super().__init__(f"the function called exit({'0' if success else '1'})")
        self.success = success


@dataclass
class IncomingRequestData:
    method: str
    path_with_query: str
    scheme: str
    authority: str
    headers: list[tuple[str, bytes]]


class BodySource:
    """The request body as the guest reads it; `read` returns None at its end."""

    def read(self, size: int, *, timeout: float) -> bytes | None:
        raise NotImplementedError


class BytesSource(BodySource):
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    def read(self, size: int, *, timeout: float) -> bytes | None:
        if self._offset >= len(self._data):
            return None
        chunk = bytes(self._data[self._offset : self._offset + size])
        self._offset += len(chunk)
        return chunk


@dataclass
class Invocation:
    invocation_id: str
    request: IncomingRequestData
    body: BodySource
    response: "ResponseWriter"
    output: "GuestOutput"
    app: "AppServices"
    timeout_s: float
    max_request_bytes: int
    max_response_bytes: int
    started: float = field(default_factory=time.monotonic)
    failure_code: str | None = None
    failure_message: str | None = None
    table: dict[int, object] = field(default_factory=dict)
    next_rep: int = 1
    notices: set[str] = field(default_factory=set)
    exited: bool | None = None  # exit(ok) -> True, exit(err) -> False

    @property
    def deadline(self) -> float:
        return self.started + self.timeout_s

    def remaining(self) -> float:
        """Seconds left before the wall-time limit; raises the timeout trap once it is spent."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HostTrap(
                f"the function ran longer than its {self.timeout_s * 1000:.0f} ms limit",
                code=FUNCTION_TIMEOUT,
            )
        return left

    def fail(self, code: str, message: str) -> None:
        """Record why the invocation failed; the first reason wins."""
        if self.failure_code is None:
            self.failure_code, self.failure_message = code, message

    def add(self, obj: object) -> int:
        rep = self.next_rep
        self.next_rep += 1
        self.table[rep] = obj
        return rep

    def notice(self, key: str, line: str) -> None:
        """Write a host line into the guest's stderr once per invocation (e.g. a refused call)."""
        if key not in self.notices:
            self.notices.add(key)
            self.output.host_line(line)


_local = threading.local()


def current() -> Invocation:
    invocation: Invocation | None = getattr(_local, "invocation", None)
    if invocation is None:
        raise HostTrap("host function called outside an invocation")
    return invocation


def current_or_none() -> Invocation | None:
    return getattr(_local, "invocation", None)


def bind(invocation: Invocation | None) -> None:
    _local.invocation = invocation

"""The function's answer on its way out: held back while small, streamed once large, capped."""

import json
from typing import Protocol

from infra_service.runtime.context import RESPONSE_TOO_LARGE, HostTrap

# Held until the body ends or passes this size: a failure after a small answer started can
# still become a clean problem+json, and a big answer is streamed, never held whole.
HOLD_BYTES = 64 * 1024
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.faas.dev/"  # as infra_service.errors.problem
# Framing is the server's job; a guest's own framing headers would contradict it.
_DROPPED = {
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

Headers = list[tuple[bytes, bytes]]


class ResponseSink(Protocol):
    def start(self, status: int, headers: Headers) -> None: ...
    def write(self, chunk: bytes) -> None: ...
    def finish(self) -> None: ...


def problem_body(*, status: int, code: str, title: str, detail: str, instance: str) -> bytes:
    body = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    return json.dumps(body).encode()


class ResponseWriter:
    """Between the guest's response resources and a sink; counts bytes against the limit."""

    def __init__(self, sink: ResponseSink, *, max_bytes: int) -> None:
        self._sink = sink
        self._max = max_bytes
        self._held = bytearray()
        self._sent = 0
        self.status: int | None = None
        self._headers: Headers = []
        self.committed = False  # status and headers have gone to the sink
        self.finished = False

    @property
    def is_set(self) -> bool:
        return self.status is not None

    def set(self, status: int, headers: list[tuple[str, bytes]]) -> None:
        """The guest's `response-outparam.set`: status and headers, body to follow."""
        for name, value in headers:
            if name == "content-length" and value.strip().isdigit() and int(value) > self._max:
                raise HostTrap(
                    f"the response declares {int(value)} bytes, more than the "
                    f"{self._max} bytes allowed",
                    code=RESPONSE_TOO_LARGE,
                )
        self.status = status
        self._headers = [(n.encode(), v) for n, v in headers if n not in _DROPPED]

    def write(self, data: bytes) -> None:
        if self.finished:
            raise HostTrap("the response body was already finished")
        if self._sent + len(self._held) + len(data) > self._max:
            raise HostTrap(
                f"the response body is larger than the {self._max} bytes allowed",
                code=RESPONSE_TOO_LARGE,
            )
        self._held += data
        if len(self._held) >= HOLD_BYTES:
            self._commit(length=None)
            self._push()

    def finish(self) -> None:
        """The body is complete: send what is held (with its length when nothing went yet)."""
        if self.finished or self.status is None:
            return
        if not self.committed:
            self._commit(length=len(self._held))
        self._push()
        self.finished = True
        self._sink.finish()

    def fail(self, *, status: int, code: str, title: str, detail: str, instance: str) -> bool:
        """Answer a problem+json instead, if nothing was sent yet; False when it is too late."""
        if self.committed:
            return False
        body = problem_body(status=status, code=code, title=title, detail=detail, instance=instance)
        self.status = status
        self._headers = [(b"content-type", PROBLEM_JSON.encode())]
        self._held = bytearray(body)
        self.finish()
        return True

    def _commit(self, *, length: int | None) -> None:
        if self.committed:
            return
        assert self.status is not None
        headers = list(self._headers)
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        self.committed = True
        self._sink.start(self.status, headers)

    def _push(self) -> None:
        if self._held:
            chunk = bytes(self._held)
            self._held.clear()
            self._sent += len(chunk)
            self._sink.write(chunk)

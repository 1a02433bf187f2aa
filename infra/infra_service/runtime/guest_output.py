"""The guest's stdout and stderr, cut into bounded lines and handed to a line sink."""

from collections.abc import Callable

LineSink = Callable[[str, str], None]  # (stream, line)

MAX_LINE_BYTES = 16 * 1024
MAX_OUTPUT_BYTES = 1024 * 1024  # per invocation; a chatty loop cannot flood the logs
TRUNCATED = "[output truncated: more than 1 MiB in one invocation]"


class GuestOutput:
    """Splits each stream into lines; long lines are cut, the total per invocation is capped."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._pending: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._total = 0
        self._truncated = False

    def write(self, stream: str, data: bytes) -> None:
        if self._truncated:
            return
        room = MAX_OUTPUT_BYTES - self._total
        if len(data) > room:
            data = data[:room]
            self._truncated = True
        self._total += len(data)
        pending = self._pending[stream]
        pending += data
        while True:
            end = pending.find(b"\n")
            if end < 0:
                break
            self._emit(stream, bytes(pending[:end]))
            del pending[: end + 1]
        while len(pending) >= MAX_LINE_BYTES:
            self._emit(stream, bytes(pending[:MAX_LINE_BYTES]))
            del pending[:MAX_LINE_BYTES]
        if self._truncated:
            self.flush()
            self._sink("stderr", TRUNCATED)

    def host_line(self, line: str) -> None:
        """A line the host writes on the guest's behalf (a refused call, a trap's reason)."""
        self.flush_stream("stderr")
        self._sink("stderr", line)

    def flush(self) -> None:
        for stream in self._pending:
            self.flush_stream(stream)

    def flush_stream(self, stream: str) -> None:
        pending = self._pending[stream]
        if pending:
            self._emit(stream, bytes(pending))
            pending.clear()

    def _emit(self, stream: str, raw: bytes) -> None:
        self._sink(stream, raw.rstrip(b"\r").decode("utf-8", errors="replace"))

"""The replica's stdout: one JSON object per line (ready, log, invocation), for the supervisor."""

import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO


def now_iso() -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-12-01T20:14:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventWriter:
    """Writes whole lines under a lock: worker threads and the event loop share stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._closed = False

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            if self._closed:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                # Nobody reads our stdout any more: the supervisor is gone. Stop gracefully
                # rather than serve requests whose logs would be lost.
                self._closed = True
                os.kill(os.getpid(), signal.SIGTERM)

    def log(self, *, stream: str, invocation_id: str, message: str) -> None:
        self.emit(
            {
                "type": "log",
                "time": now_iso(),
                "stream": stream,
                "invocation_id": invocation_id,
                "message": message,
            }
        )

    def invocation(
        self,
        *,
        invocation_id: str,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        error_code: str | None,
    ) -> None:
        self.emit(
            {
                "type": "invocation",
                "time": now_iso(),
                "invocation_id": invocation_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "error_code": error_code,
            }
        )

"""Runtime logs of one app: its hosts' lines, bounded, on disk (they survive a restart).

Two JSON-lines files, `current.jsonl` and `previous.jsonl`, each at most half the app's
budget: when `current` is full it becomes `previous` (dropping the older one). Times are
stamped with microseconds and made strictly increasing per app, so that `since` (exclusive)
is an exact cursor: a page never repeats or skips a line.
"""

import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from contract.runtime import LogStream, RuntimeLogEntry, RuntimeLogPage

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_MESSAGE_CHARS = 16 * 1024
TRUNCATED = " …[truncated]"


def stamp(moment: datetime) -> str:
    # TIME_FORMAT's layout; isoformat pads the year to four digits where strftime writes "1".
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (`Z` or an offset; naive means UTC). ValueError if it is none."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if not moment.tzinfo:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # the instant in UTC falls before year 1 or after 9999
        raise ValueError(f"{text!r} is outside years 1-9999 in UTC") from exc


def normalise_time(text: str) -> str:
    """The same instant in the stored format (which orders as text)."""
    return stamp(parse_time(text))


class AppLog:
    """Appends and pages one app's runtime log lines."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self._folder = folder
        self._half = max(max_bytes // 2, 4096)
        self._current = folder / "current.jsonl"
        self._previous = folder / "previous.jsonl"
        self._out: IO[str] | None = None
        self._size = 0
        self._last: datetime | None = None

    def append(
        self,
        *,
        replica: str | None,
        stream: LogStream,
        message: str,
        invocation_id: str | None = None,
        time: str | None = None,
    ) -> None:
        """Record one line; a malformed time is replaced by now."""
        moment = datetime.now(UTC)
        if time:
            with contextlib.suppress(ValueError):
                moment = parse_time(time)
        out = self._open()
        if self._last is not None and moment <= self._last:
            moment = self._last + timedelta(microseconds=1)
        self._last = moment
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + TRUNCATED
        entry = {
            "time": stamp(moment),
            "replica": replica,
            "stream": stream,
            "invocation_id": invocation_id,
            "message": message,
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        size = len(line.encode())
        if self._size + size > self._half and self._size > 0:
            out = self._rotate()
        out.write(line)
        self._size += size

    def read(
        self, *, since: str | None = None, limit: int = 100, tail: int | None = None
    ) -> RuntimeLogPage:
        """Lines after `since`, oldest first: the first `limit`, or with `tail` the last ones."""
        after = normalise_time(since) if since else ""
        entries: list[RuntimeLogEntry] = []
        for path in (self._previous, self._current):
            for raw in _lines(path):
                if raw.get("time", "") > after:
                    with contextlib.suppress(ValueError):
                        entries.append(RuntimeLogEntry.model_validate(raw))
        entries = entries[-tail:] if tail else entries[:limit]
        return RuntimeLogPage(entries=entries, next_since=entries[-1].time if entries else since)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def _open(self) -> IO[str]:
        if self._out is None:
            self._folder.mkdir(parents=True, exist_ok=True)
            self._out = self._current.open("a", encoding="utf-8", buffering=1)
            self._size = self._current.stat().st_size
            if self._last is None:
                self._last = _last_time(self._current) or _last_time(self._previous)
        return self._out

    def _rotate(self) -> IO[str]:
        self.close()
        self._current.replace(self._previous)
        return self._open()


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                found.append(value)
    return found


def _last_time(path: Path) -> datetime | None:
    """The newest stamp in a file, so that times keep increasing after a restart."""
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            file.seek(max(0, file.tell() - 64 * 1024))
            tail = file.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(tail):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return parse_time(json.loads(line)["time"])
    return None

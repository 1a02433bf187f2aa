"""SSE frames, encoded once and shared by every subscriber, and the task stream's cursor.

A task stream's event id is a cursor `{version}.{events}.{log}`: the task version the client
has seen, how many pipeline events, and how many bytes of the build log. Every id a stream
sends is at least the previous one in each part and greater in one, and what follows a cursor
is computed from stored state (the task item, the build log) — so `Last-Event-ID` resumes on
any replica without a loss or a duplicate.
"""

import json
from dataclasses import dataclass
from typing import Final, NamedTuple

HEARTBEAT: Final = b": heartbeat\n\n"


class Cursor(NamedTuple):
    version: int  # -1: nothing seen yet
    events: int
    log: int

    def __str__(self) -> str:
        return f"{self.version}.{self.events}.{self.log}"


START: Final = Cursor(-1, 0, 0)


def parse_cursor(value: str | None) -> Cursor | None:
    """The cursor of a task stream's event id; None when `value` is not one we sent."""
    if not value:
        return None
    parts = value.strip().split(".")
    if len(parts) != 3 or not all(part.isdigit() and len(part) <= 12 for part in parts):
        return None
    version, events, log = (int(part) for part in parts)
    return Cursor(version, events, log)


@dataclass(frozen=True)
class Frame:
    """One event: its name and JSON data (the id is added per subscriber)."""

    event: str
    data: str  # one line of JSON
    # Which part of the task cursor the frame advances, and to what ("" for none).
    part: str = ""
    value: int = 0
    event_id: str | None = None  # a fixed id (workspace streams); task streams use the cursor

    def encode(self, event_id: str | None) -> bytes:
        head = f"id: {event_id}\n" if event_id is not None else ""
        return f"{head}event: {self.event}\ndata: {self.data}\n\n".encode()


def json_frame(event: str, payload: object, *, part: str = "", value: int = 0) -> Frame:
    return Frame(event, json.dumps(payload, separators=(",", ":")), part, value)


def raw_frame(event: str, data: bytes | str, *, part: str = "", value: int = 0) -> Frame:
    text = data.decode() if isinstance(data, bytes) else data
    return Frame(event, text, part, value)

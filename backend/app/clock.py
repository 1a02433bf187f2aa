"""Time in one format: ISO 8601 UTC with milliseconds and a `Z`."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as stored in DynamoDB and shown by the API."""
    return iso(utc_now())


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def now_ms() -> int:
    """Epoch milliseconds (the due index's unit)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Moment:
    """One instant in both forms a task stores: ISO text and epoch milliseconds."""

    iso: str
    ms: int


def moment() -> Moment:
    return Moment(iso=now_iso(), ms=now_ms())

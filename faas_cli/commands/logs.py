"""`faas logs NAME`: a function's build logs, pipeline events and runtime output."""

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from faas_cli.commands.common import OutputOption, WorkspaceOption
from faas_cli.errors import usage_error
from faas_cli.output import Output, OutputMode
from faas_cli.session import Session

FOLLOW_SECONDS = 1.0
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_STYLES = {"build": "cyan", "pipeline": "magenta", "runtime": "green"}
Key = tuple[str, ...]


class Source(StrEnum):
    build = "build"
    pipeline = "pipeline"
    runtime = "runtime"


def _iso(moment: datetime) -> str:
    """The API's time format: ISO 8601 UTC, milliseconds, `Z` (its times compare as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def since_time(value: str | None, *, now: datetime | None = None) -> str | None:
    """`--since` for the API: a time (ISO 8601, UTC if no zone) or an age (30s, 5m, 2h, 1d)."""
    if not value:
        return None
    age = _AGE.match(value.strip())
    if age:
        return _iso((now or datetime.now(UTC)) - timedelta(**{_UNITS[age[2]]: int(age[1])}))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise usage_error(
            "INVALID_SINCE",
            f"--since {value!r} is neither a time nor an age",
            "give an ISO 8601 time or an age such as 30s, 10m, 2h, 1d",
        ) from exc
    return _iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _key(entry: dict[str, Any]) -> Key:
    return tuple(str(entry.get(k)) for k in ("time", "source", "task_id", "stage", "message"))


def _line(entry: dict[str, Any]) -> Text:
    source = str(entry.get("source", ""))
    line = Text(f"{entry.get('time', '')}  ", style="dim")
    line.append(f"{source:<8} ", style=_STYLES.get(source, "white"))
    if entry.get("stage"):
        line.append(f"{entry['stage']:<8} ", style="dim")
    style = "red" if entry.get("level") in ("error", "warning") else None
    line.append(str(entry.get("message", "")), style=style)
    return line


class LogTail:
    """Keeps what was shown, so that a repeated poll prints each line once."""

    def __init__(self, source: Source | None) -> None:
        self.source = source
        self.seen: Counter[Key] = Counter()
        self.last_time: str | None = None

    def fresh(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries not shown yet (the same line twice at one moment counts twice)."""
        new: list[dict[str, Any]] = []
        counts: Counter[Key] = Counter()
        for entry in entries:
            if self.source and entry.get("source") != self.source:
                continue  # older backends ignore `source`: filter here as well
            key = _key(entry)
            counts[key] += 1
            if counts[key] > self.seen[key]:
                self.seen[key] += 1
                new.append(entry)
            self.last_time = max(self.last_time or "", str(entry.get("time", "")))
        return new

    def cursor(self) -> str | None:
        """Where the next poll starts: just before the last moment seen (it may have more)."""
        if not self.last_time:
            return None
        try:
            start = datetime.fromisoformat(self.last_time) - timedelta(milliseconds=1)
        except ValueError:
            return None
        cursor = _iso(start)
        self.seen = Counter({k: n for k, n in self.seen.items() if k[0] > cursor})
        return cursor


def _show(out: Output, entries: list[dict[str, Any]], *, lines: bool) -> None:
    for entry in entries:
        if lines:
            out.json_line(entry)
        out.say(_line(entry))


def logs(
    name: Annotated[str, typer.Argument(help="Function name (or id).", show_default=False)],
    source: Annotated[
        Source | None, typer.Option(help="Only build, pipeline or runtime lines.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only after this time (ISO 8601) or age (30s, 5m, 2h).")
    ] = None,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.", min=1)] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """A function's logs, oldest first (-o json: a list; with --follow, one object a line)."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        path = f"/api/functions/{function['id']}/logs"
        kind = source.value if source else None
        tracker = LogTail(source)
        after = since_time(since)
        first = tracker.fresh(list(session.api.items(path, since=after, source=kind, tail=tail)))
        if not follow:
            session.out.data(first)
            _show(session.out, first, lines=False)
            if not first:
                session.out.note("no log lines")
            return
        _show(session.out, first, lines=True)
        while True:
            time.sleep(FOLLOW_SECONDS)
            cursor = tracker.cursor() or after
            entries = list(session.api.items(path, since=cursor, source=kind))
            _show(session.out, tracker.fresh(entries), lines=True)

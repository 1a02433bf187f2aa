"""Follow a task to its end: through its event stream when the backend has one, else by polling.

While it runs, each stage is printed as it finishes, with its duration; on a terminal a spinner
shows the stage in progress.
"""

import json
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from datetime import datetime
from typing import Any

import httpx
from rich.status import Status
from rich.text import Text

from faas_cli.client import ApiClient
from faas_cli.errors import CliError
from faas_cli.output import Output

TERMINAL = frozenset({"completed", "failed"})
POLL_SECONDS = 0.5
# The stream may be quiet while a long stage runs; past this we re-read the task and reconnect.
STREAM_READ_TIMEOUT = httpx.Timeout(5.0, read=60.0)
_MARKS = {"completed": ("✓", "green"), "failed": ("✗", "red"), "running": ("…", "yellow")}


def sse_frames(lines: Iterator[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event, data, last event id) of a text/event-stream, as the HTML standard parses them."""
    event, data, last_id = "message", list[str](), None
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), last_id
            event, data = "message", list[str]()
            continue
        if line.startswith(":"):
            continue  # a comment (heartbeat)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
    if data:
        yield event, "\n".join(data), last_id


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream."""
    for event, data, _ in sse_frames(lines):
        yield event, data


# The backend's task stream (README "Live events"): `task` and `end` carry the whole task,
# `log` a log line; after a drop it resumes from Last-Event-ID without loss or repeats.
STATE_EVENTS = frozenset({"task", "end", "message"})
RECONNECTS = 3


def stream_updates(
    api: ApiClient,
    task_id: str,
    *,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> Generator[dict[str, Any], None, None]:
    """The task's states from its event stream, resuming after a drop (a few times); nothing
    more once it ends or when the backend has none (the caller polls then)."""
    path = f"/api/v1/tasks/{task_id}/events"
    last_id: str | None = None
    for _ in range(RECONNECTS + 1):
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            with api.stream("GET", path, headers=headers, timeout=STREAM_READ_TIMEOUT) as response:
                content_type = response.headers.get("content-type", "")
                if response.status_code != 200 or not content_type.startswith("text/event-stream"):
                    return  # no stream here (an older backend): the caller polls
                for event, data, event_id in sse_frames(response.iter_lines()):
                    last_id = event_id or last_id
                    try:
                        payload = json.loads(data)
                    except ValueError:
                        continue
                    if not isinstance(payload, dict):
                        continue
                    if event == "log" and on_log is not None:
                        on_log(payload)
                    elif event in STATE_EVENTS and "status" in payload:
                        yield payload
                    if event == "end":
                        return
        except CliError as error:
            if error.code not in ("TIMEOUT", "NETWORK_ERROR"):
                raise  # a quiet or dropped stream is resumed, then polled, which names any fault


def poll_updates(
    api: ApiClient, task_id: str, interval: float = POLL_SECONDS
) -> Generator[dict[str, Any], None, None]:
    """The task's states by GET every `interval` seconds, until it is terminal."""
    while True:
        task: dict[str, Any] = api.get(f"/api/v1/tasks/{task_id}")
        yield task
        if task["status"] in TERMINAL:
            return
        time.sleep(interval)


def _seconds(stage: dict[str, Any], now: datetime | None = None) -> float | None:
    try:
        started = datetime.fromisoformat(stage["started_at"])
        ended = datetime.fromisoformat(stage["finished_at"]) if stage.get("finished_at") else now
    except (KeyError, TypeError, ValueError):
        return None
    return None if ended is None else max(0.0, (ended - started).total_seconds())


def stage_line(stage: dict[str, Any]) -> Text:
    """`✓ build      1.23s` (with the failure's mark and no duration when unknown)."""
    mark, style = _MARKS.get(stage["status"], ("·", "dim"))
    line = Text(f"  {mark} ", style=style)
    line.append(f"{stage['name']:<9}")
    seconds = _seconds(stage)
    line.append(f"{seconds:6.2f}s" if seconds is not None else "      ", style="dim")
    if stage["status"] == "failed":
        line.append("  failed", style="red")
    return line


class StageView:
    """Prints each stage once, when it finishes; keeps a spinner on the running one."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.shown: set[str] = set()
        self.status: Status | None = None
        if out.interactive:
            self.status = out.stderr.status("waiting for the pipeline…")
            self.status.start()

    def update(self, task: dict[str, Any]) -> None:
        for stage in task.get("stages") or []:
            if stage["status"] in TERMINAL and stage["name"] not in self.shown:
                self.shown.add(stage["name"])
                # The spinner lives on stderr; stdout is written around it, not through it.
                if self.status is not None:
                    self.status.stop()
                self.out.say(stage_line(stage))
                if self.status is not None:
                    self.status.start()
        if self.status is not None:
            current = task.get("stage") or task["status"]
            self.status.update(f"{current} {task['status']}…")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def follow(
    api: ApiClient,
    out: Output,
    task: dict[str, Any],
    *,
    interval: float = POLL_SECONDS,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Follow `task` until it is completed or failed; its last state."""
    view = StageView(out)
    try:
        view.update(task)
        if task["status"] in TERMINAL:
            return task
        task_id = task["task_id"]
        # Generators start lazily: polling begins only if the stream ends first (or is absent).
        streamed = stream_updates(api, task_id, on_log=on_log)
        for source in (streamed, poll_updates(api, task_id, interval)):
            with closing(source) as states:
                for task in states:
                    view.update(task)
                    if on_update:
                        on_update(task)
                    if task["status"] in TERMINAL:
                        return task
        return task
    finally:
        view.close()


def took(task: dict[str, Any]) -> str:
    """How long the task ran, from creation to its last update (e.g. ` in 3.2s`)."""
    seconds = _seconds(
        {"started_at": task.get("created_at"), "finished_at": task.get("updated_at")}
    )
    return "" if seconds is None else f" in {seconds:.1f}s"


def failure(task: dict[str, Any]) -> CliError:
    """The error a failed task stands for: its code, and its message line by line."""
    stage = task.get("stage") or next(
        (s["name"] for s in task.get("stages") or [] if s["status"] == "failed"), None
    )
    where = f" in stage {stage}" if stage else ""
    code = task.get("error_code") or "TASK_FAILED"
    hint = None
    if code == "BUILD_FAILED" and task.get("function_id"):
        hint = "the whole build log: `faas logs NAME --source build`"
    return CliError(
        code,
        f"Task {task['task_id']} ({task.get('type')}) failed{where}",
        lines=(task.get("error_message") or "").splitlines(),
        hint=hint,
        extra={"task_id": task["task_id"]},
    )

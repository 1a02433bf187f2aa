"""Structured logs: JSON lines in production, readable lines elsewhere; the task on each line.

`task_context` holds the id of the task the current asyncio task works on: the poller sets it
for each step, the routes for each request about a task. Every log record made while it is set
carries it as `task_id` (a record factory, so that every handler sees it, tests' included), and
both formatters print it: a line about a task names it without each call passing it.
"""

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

from app.config import Environment, Settings

task_context: ContextVar[str | None] = ContextVar("task_id", default=None)


_make_record = logging.getLogRecordFactory()


def _record_with_task(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    record.task_id = task_context.get()  # `extra={"task_id": …}` still overrides it
    return record


logging.setLogRecordFactory(_record_with_task)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("task_id", "workspace_id", "stage"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(task)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        task_id = getattr(record, "task_id", None)
        record.task = f" [task {task_id}]" if task_id else ""
        return super().format(record)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.app_env is Environment.production:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())

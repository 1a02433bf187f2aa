"""Structured logs: JSON lines in production, readable text elsewhere.

Every line of job work names its job and the control plane's task (when the request named it).
"""

import json
import logging
from datetime import UTC, datetime

from infra_service.jobs import current_job


class _JobContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        job = current_job.get()
        record.job_id = job.job_id if job else "-"
        record.job_key = job.job_key if job else "-"
        record.task_id = (job.task_id if job else None) or "-"
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", "-"),
            "job_key": getattr(record, "job_key", "-"),
            "task_id": getattr(record, "task_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(*, level: str, json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_JobContext())
    handler.setFormatter(
        _JsonFormatter()
        if json_lines
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(job_id)s %(task_id)s] %(message)s"
        )
    )
    root = logging.getLogger("infra_service")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

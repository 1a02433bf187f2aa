"""The backend's Prometheus metrics (served at GET /metrics), and one function to record each.

Names start with `faas_`. The other modules call the `record_*` / `observe_*` functions here;
none imports prometheus_client itself. Everything is per replica: sum over replicas in PromQL.
"""

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

_STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

TASKS_CREATED = Counter(
    "faas_tasks_created_total", "Tasks created, by type.", ["type"], registry=REGISTRY
)
TASKS_FINISHED = Counter(
    "faas_tasks_finished_total",
    "Tasks finished, by type and outcome (completed, or the failure's error code).",
    ["type", "outcome"],
    registry=REGISTRY,
)
STAGE_DURATION = Histogram(
    "faas_stage_duration_seconds",
    "How long a stage ran (started → finished), by stage and status.",
    ["stage", "status"],
    buckets=_STAGE_BUCKETS,
    registry=REGISTRY,
)
POLL_LAG = Histogram(
    "faas_poll_lag_seconds",
    "How late a task's step started after it was due (due → claimed).",
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
INFRA_LATENCY = Histogram(
    "faas_infra_request_duration_seconds",
    "Calls to the infrastructure service, by stage and call.",
    ["stage", "call"],
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
INFRA_ERRORS = Counter(
    "faas_infra_request_errors_total",
    "Failed calls to the infrastructure service, by stage and kind (unavailable, rejected).",
    ["stage", "kind"],
    registry=REGISTRY,
)
UPLOAD_BYTES = Counter(
    "faas_upload_bytes_total", "Bytes of function sources accepted and stored.", registry=REGISTRY
)
UPLOADS = Counter("faas_uploads_total", "Function sources accepted and stored.", registry=REGISTRY)
SSE_SUBSCRIBERS = Gauge(
    "faas_sse_subscribers",
    "Open event streams on this replica, by stream (task, workspace).",
    ["stream"],
    registry=REGISTRY,
)
SSE_CUT_OFF = Counter(
    "faas_sse_cut_off_total",
    "Event-stream clients cut off for reading too slowly.",
    registry=REGISTRY,
)
DYNAMODB_REQUESTS = Counter(
    "faas_dynamodb_requests_total",
    "Requests to DynamoDB and its stream, by operation.",
    ["operation"],
    registry=REGISTRY,
)
INVOCATIONS = Counter(
    "faas_invocations_total",
    "Function invocations through the backend, by function and HTTP status.",
    ["function_id", "status"],
    registry=REGISTRY,
)
INVOCATION_DURATION = Histogram(
    "faas_invocation_duration_seconds",
    "Function invocations through the backend, by function.",
    ["function_id"],
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)


class _ActiveTasks(Collector):
    """Tasks this replica drives, by stage: each step reports where its task is; a task not
    stepped for a while (finished, or driven by another replica now) drops out."""

    def __init__(self, *, forget_after: float = 600.0) -> None:
        self._seen: dict[str, tuple[str, float]] = {}
        self.forget_after = forget_after

    def observe(self, task_id: str, stage: str | None) -> None:
        if stage is None:
            self._seen.pop(task_id, None)
        else:
            self._seen[task_id] = (stage, time.monotonic())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "faas_tasks_active", "Active tasks driven by this replica, by stage.", labels=["stage"]
        )
        cutoff = time.monotonic() - self.forget_after
        counts: dict[str, int] = {}
        for task_id, (stage, seen) in list(self._seen.items()):
            if seen < cutoff:
                self._seen.pop(task_id, None)
                continue
            counts[stage] = counts.get(stage, 0) + 1
        for stage in ("build", "push", "scaffold", "deploy"):
            family.add_metric([stage], counts.get(stage, 0))
        yield family


ACTIVE_TASKS = _ActiveTasks()
REGISTRY.register(ACTIVE_TASKS)


# -- recording ----------------------------------------------------------------------------


def record_task_created(*, task_type: str) -> None:
    TASKS_CREATED.labels(type=task_type).inc()


def record_upload(*, size: int) -> None:
    UPLOADS.inc()
    UPLOAD_BYTES.inc(size)


def record_step(*, before: Any, after: Any) -> None:
    """A task step was stored (`before` → `after`, app.tasks.models.Task): finished stages,
    a finished task, where the task is now."""
    for old, new in zip(before.stages, after.stages, strict=False):
        if old.status == new.status or new.status not in ("completed", "failed"):
            continue
        seconds = _seconds_between(new.started_at, new.finished_at)
        if seconds is not None:
            STAGE_DURATION.labels(stage=new.name, status=new.status).observe(seconds)
    if after.is_terminal and not before.is_terminal:
        outcome = "completed" if after.status == "completed" else (after.error_code or "failed")
        TASKS_FINISHED.labels(type=after.type, outcome=outcome).inc()
    ACTIVE_TASKS.observe(after.task_id, None if after.is_terminal else after.stage)


def observe_poll_lag(*, seconds: float) -> None:
    POLL_LAG.observe(max(seconds, 0.0))


def observe_infra_call(*, stage: str, call: str, seconds: float, error: str | None) -> None:
    INFRA_LATENCY.labels(stage=stage, call=call).observe(seconds)
    if error is not None:
        INFRA_ERRORS.labels(stage=stage, kind=error).inc()


def set_sse_subscribers(stream: str, count: int) -> None:
    SSE_SUBSCRIBERS.labels(stream=stream).set(count)


def record_sse_cut_off() -> None:
    SSE_CUT_OFF.inc()


def record_invocation(function_id: str, status: int | str, duration_s: float) -> None:
    """One invocation of a function through the backend (the invoke proxy calls this)."""
    INVOCATIONS.labels(function_id=function_id, status=str(status)).inc()
    INVOCATION_DURATION.labels(function_id=function_id).observe(max(duration_s, 0.0))


def count_dynamodb_requests(client: Any) -> None:
    """Count every request `client` (DynamoDB or its stream) sends, by operation."""

    def before_call(**kwargs: Any) -> None:
        model = kwargs.get("model")
        DYNAMODB_REQUESTS.labels(operation=getattr(model, "name", "unknown")).inc()

    client.meta.events.register("before-call", before_call)


def dynamodb_requests() -> dict[str, float]:
    """Requests counted so far, by operation (the tests and benchmarks read this)."""
    counts: dict[str, float] = {}
    for metric in DYNAMODB_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["operation"]] = sample.value
    return counts


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((ended - began).total_seconds(), 0.0)

"""The service's Prometheus metrics and GET /metrics (jobs by kind and status, job durations,
build-cache hits, the local runtime's apps and replicas). Names start with `faas_infra_`."""

import hmac
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from infra_service.errors import Unauthorized

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_DURATION = Histogram(
    "faas_infra_job_duration_seconds",
    "How long jobs ran (started → finished), by kind and status.",
    ["kind", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
JOB_WAIT = Histogram(
    "faas_infra_job_queue_seconds",
    "How long jobs waited in their queue before a worker took them, by kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
BUILD_CACHE = Counter(
    "faas_infra_build_cache_total",
    "Builds answered from the build cache (hit) or compiled (miss).",
    ["result"],
    registry=REGISTRY,
)


def observe_job(*, kind: str, status: str, queued_at: float, started_at: float) -> None:
    JOB_WAIT.labels(kind=kind).observe(max(started_at - queued_at, 0.0))
    JOB_DURATION.labels(kind=kind, status=status).observe(max(time.monotonic() - started_at, 0.0))


def record_build_cache(*, hit: bool) -> None:
    BUILD_CACHE.labels(result="hit" if hit else "miss").inc()


class _State(Collector):
    """Read at scrape time: jobs by kind and status, and the local runtime's apps."""

    def __init__(self) -> None:
        self.jobs: Any = None  # infra_service.jobs.JobStore, set by the lifespan
        self.target: Any = None  # the deploy target (its `runtime_counts()` when it has one)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "faas_infra_jobs", "Jobs known to this process, by kind and status.",
            labels=["kind", "status"],
        )  # fmt: skip
        if self.jobs is not None:
            for (kind, status), count in sorted(self.jobs.counts().items()):
                jobs.add_metric([kind, status], count)
        yield jobs
        counts = getattr(self.target, "runtime_counts", None)
        if callable(counts):
            apps, replicas = counts()
            yield GaugeMetricFamily("faas_infra_runtime_apps", "Apps deployed locally.", apps)
            yield GaugeMetricFamily(
                "faas_infra_runtime_replicas", "Replicas serving locally.", replicas
            )


STATE = _State()
REGISTRY.register(STATE)

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics of this service")
async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip(), token.get_secret_value()
        ):
            raise Unauthorized("GET /metrics needs the metrics token")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

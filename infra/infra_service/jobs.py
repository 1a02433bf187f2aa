"""Jobs: idempotent by `job_key`, run by a bounded pool of workers per kind (docs/contract.md).

A job id stays valid for the life of the process. Posting a known `job_key` again returns the
same job (so the backend may resubmit after a crash or a lost reply); the same key with a
different request is refused, since answering with the first job would hide a client bug.
"""

import asyncio
import contextvars
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from contract.jobs import view_of
from infra_service.errors import JobKeyConflict, JobNotFound, QueueFull
from infra_service.metrics import observe_job

log = logging.getLogger(__name__)

_STATUSES = ("queued", "running", "succeeded", "failed")

JobStatus = Literal["queued", "running", "succeeded", "failed"]
# The job a log line belongs to (read by logging_setup's filter).
current_job: contextvars.ContextVar["Job | None"] = contextvars.ContextVar("job", default=None)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobFailure(Exception):
    """A job's own failure: reported to the backend as `error: {code, message}`."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # the HTTP status of the call that failed, when there was one


@dataclass
class Job:
    job_id: str
    kind: str
    job_key: str
    request: dict[str, Any]
    fingerprint: str
    status: JobStatus = "queued"
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    log_path: str | None = None
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    # The log file the job is writing right now (a build while it runs): GET …/log reads it.
    live_log: Path | None = None
    queued: float = field(default_factory=time.monotonic)  # when it was accepted (monotonic)

    @property
    def task_id(self) -> str | None:
        """The control plane's task this job serves, when the request named it."""
        value = self.request.get("task_id")
        return str(value) if value else None

    def view(self) -> dict[str, Any]:
        """The job as POST and GET answer it (contract.jobs.JobView)."""
        return view_of(self)


Runner = Callable[[Job], Awaitable[dict[str, Any]]]
Check = Callable[[dict[str, Any]], None]  # raises InvalidRequest for a job that cannot work


def fingerprint(request: dict[str, Any]) -> str:
    """A digest of what was asked, the job key aside."""
    body = {k: v for k, v in request.items() if k != "job_key"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class _Pool:
    def __init__(
        self, *, kind: str, runner: Runner, check: Check | None, workers: int, max_queued: int
    ) -> None:
        self.kind = kind
        self.runner = runner
        self.check = check
        self.workers = workers
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max_queued)
        self.tasks: list[asyncio.Task[None]] = []


class JobStore:
    """All jobs of this process, and the workers that run them."""

    def __init__(self, *, max_queued: int) -> None:
        self._max_queued = max_queued
        self._pools: dict[str, _Pool] = {}
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[tuple[str, str], Job] = {}

    def register(
        self, *, kind: str, runner: Runner, workers: int, check: Check | None = None
    ) -> None:
        """Declare a kind of job, how many may run at once, and a check done on submission."""
        self._pools[kind] = _Pool(
            kind=kind, runner=runner, check=check, workers=workers, max_queued=self._max_queued
        )

    async def start(self) -> None:
        """Start every pool's workers (named tasks, cancelled by stop)."""
        for pool in self._pools.values():
            pool.tasks = [
                asyncio.create_task(self._work(pool), name=f"{pool.kind}-worker-{n}")
                for n in range(pool.workers)
            ]

    async def stop(self) -> None:
        tasks = [task for pool in self._pools.values() for task in pool.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, *, kind: str, request: dict[str, Any]) -> Job:
        """The job for `request['job_key']`: the existing one, or a new queued one."""
        job_key = request["job_key"]
        digest = fingerprint(request)
        existing = self._by_key.get((kind, job_key))
        if existing is not None:
            if existing.fingerprint != digest:
                raise JobKeyConflict(
                    f"job_key {job_key!r} was already used with a different request "
                    f"(job {existing.job_id})."
                )
            return existing
        pool = self._pools[kind]
        if pool.check is not None:
            pool.check(request)
        if pool.queue.full():
            raise QueueFull(f"{pool.queue.qsize()} {kind} jobs are waiting; retry shortly.")
        job = Job(
            job_id=f"{kind}-{secrets.token_hex(8)}",
            kind=kind,
            job_key=job_key,
            request=request,
            fingerprint=digest,
        )
        self._jobs[job.job_id] = job
        self._by_key[(kind, job_key)] = job
        pool.queue.put_nowait(job)
        log.info("accepted %s job %s for key %s (task %s)", kind, job.job_id, job_key, job.task_id)
        return job

    def counts(self) -> dict[tuple[str, str], int]:
        """Jobs by (kind, status), for the metrics."""
        counts = {(kind, status): 0 for kind in self._pools for status in _STATUSES}
        for job in self._jobs.values():
            counts[(job.kind, job.status)] = counts.get((job.kind, job.status), 0) + 1
        return counts

    def get(self, *, kind: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise JobNotFound(f"No {kind} job {job_id!r} is known to this service.")
        return job

    async def _work(self, pool: _Pool) -> None:
        while True:
            job = await pool.queue.get()
            try:
                await self._run(pool, job)
            finally:
                pool.queue.task_done()

    async def _run(self, pool: _Pool, job: Job) -> None:
        token = current_job.set(job)
        job.status, job.started_at = "running", now_iso()
        started = time.monotonic()
        log.info("%s job started", job.kind)
        try:
            job.result = await pool.runner(job)
            job.status = "succeeded"
        except JobFailure as failure:
            job.status, job.error = "failed", {"code": failure.code, "message": failure.message}
        except asyncio.CancelledError:
            job.status = "failed"
            job.error = {"code": "INTERRUPTED", "message": "The service stopped during the job."}
            raise
        except Exception as exc:
            log.exception("%s job failed unexpectedly", job.kind)
            job.status = "failed"
            job.error = {
                "code": "INTERNAL_ERROR",
                "message": f"The {job.kind} failed unexpectedly ({type(exc).__name__}); "
                "the service log has the details.",
            }
        finally:
            job.finished_at = now_iso()
            observe_job(kind=job.kind, status=job.status, queued_at=job.queued, started_at=started)
            log.info("%s job %s", job.kind, job.status)
            current_job.reset(token)

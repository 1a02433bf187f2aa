"""Invocation figures: recorded in memory per replica, added to DynamoDB every few seconds.

`InvocationRecorder.record` is a few dictionary updates on the request's path; the lifespan's
flusher adds each function's pending counts to its stats item with one atomic ADD
(app.storage.invocation_stats), so any number of replicas sum exactly. Durations go into a
log-scale histogram of buckets 2^(1/4) wide (±9 % around a bucket's midpoint), from which
p50/p95 are read: a percentile is the midpoint of the bucket it falls in. A replica's own
pending figures are added to what it reads, so a caller sees its invocations at once on the
replica that served them (others see them after their next flush). A replica that dies loses
at most one flush interval of figures.

Subscribers (`on_invocation`) hear of every invocation as it is recorded, e.g. metrics.
"""

import asyncio
import importlib
import logging
import math
from collections.abc import Callable
from typing import Final

from app.clock import now_iso
from app.errors import DomainError
from app.functions.models import FunctionRecord
from app.invoke.schemas import InvocationStats
from app.storage.invocation_stats import InvocationStatsRepository, StatsDelta, StoredStats

log = logging.getLogger(__name__)

InvocationCallback = Callable[[str, int, float], None]  # (function_id, status, duration_s)
_subscribers: list[InvocationCallback] = []

BUCKET_BASE_MS: Final = 0.1
BUCKETS_PER_DOUBLING: Final = 4
BUCKET_COUNT: Final = 100  # up to 0.1 ms · 2^25 ≈ 56 minutes


def on_invocation(callback: InvocationCallback) -> None:
    """Call `callback(function_id, status, duration_s)` after every invocation through invoke."""
    _subscribers.append(callback)


def _metrics_hook() -> InvocationCallback | None:
    """`app.observability.metrics.record_invocation`, when that module exists."""
    try:
        module = importlib.import_module("app.observability.metrics")
    except ImportError:
        return None
    hook = getattr(module, "record_invocation", None)
    return hook if callable(hook) else None


def bucket_of(duration_ms: float) -> int:
    """The histogram bucket of a duration: bucket i holds (bound(i-1), bound(i)]."""
    if duration_ms <= BUCKET_BASE_MS:
        return 0
    index = math.ceil(BUCKETS_PER_DOUBLING * math.log2(duration_ms / BUCKET_BASE_MS))
    return min(index, BUCKET_COUNT - 1)


def bucket_midpoint_ms(index: int) -> float:
    """The geometric middle of bucket `index`."""
    return BUCKET_BASE_MS * 2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING) if index else BUCKET_BASE_MS


def percentile_ms(buckets: dict[int, int], fraction: float) -> float | None:
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = math.ceil(fraction * total), 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return round(bucket_midpoint_ms(index), 3)
    return None  # unreachable: the last bucket reaches the total


class InvocationRecorder:
    """This replica's figures not yet flushed, per function."""

    def __init__(self, *, repository: InvocationStatsRepository, flush_seconds: float) -> None:
        self._repository = repository
        self._flush_seconds = flush_seconds
        self._pending: dict[str, StatsDelta] = {}
        self._metrics = _metrics_hook()

    def record(self, function: FunctionRecord, *, status: int, duration_s: float) -> None:
        """Count one invocation (an error when `status` ≥ 500)."""
        delta = self._pending.get(function.id)
        if delta is None:
            delta = self._pending[function.id] = StatsDelta(workspace_id=function.workspace_id)
        delta.count += 1
        delta.errors += status >= 500
        bucket = bucket_of(duration_s * 1000)
        delta.buckets[bucket] = delta.buckets.get(bucket, 0) + 1
        delta.last_invoked_at = now_iso()
        for callback in (*_subscribers, *((self._metrics,) if self._metrics else ())):
            try:
                callback(function.id, status, duration_s)
            except Exception:  # a subscriber's bug must not fail the invocation
                log.exception("invocation subscriber %r failed", callback)

    async def flush(self) -> None:
        """Add every function's pending figures to storage; what fails stays pending."""
        pending, self._pending = self._pending, {}
        for function_id, delta in pending.items():
            try:
                await self._repository.add(function_id=function_id, delta=delta)
            except DomainError as exc:
                log.warning("invocation figures of %s not flushed yet: %s", function_id, exc)
                self._merge_back(function_id, delta)

    def _merge_back(self, function_id: str, delta: StatsDelta) -> None:
        current = self._pending.setdefault(function_id, StatsDelta(workspace_id=delta.workspace_id))
        current.count += delta.count
        current.errors += delta.errors
        for index, number in delta.buckets.items():
            current.buckets[index] = current.buckets.get(index, 0) + number
        current.last_invoked_at = max(
            filter(None, (current.last_invoked_at, delta.last_invoked_at)), default=None
        )

    def forget(self, function_id: str) -> None:
        """The function is gone: drop its pending figures."""
        self._pending.pop(function_id, None)

    async def run(self) -> None:
        """Flush every interval until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self._flush_seconds)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def stats(self, function: FunctionRecord) -> InvocationStats:
        """The function's figures: what storage holds plus this replica's pending ones."""
        stored = await self._repository.get(
            workspace_id=function.workspace_id, function_id=function.id
        )
        pending = self._pending.get(function.id)
        return _render(function.id, stored, pending)


def _render(function_id: str, stored: StoredStats, pending: StatsDelta | None) -> InvocationStats:
    buckets = dict(stored.buckets)
    count, errors, last = stored.count, stored.errors, stored.last_invoked_at
    if pending is not None:
        count, errors = count + pending.count, errors + pending.errors
        for index, number in pending.buckets.items():
            buckets[index] = buckets.get(index, 0) + number
        last = max(filter(None, (last, pending.last_invoked_at)), default=None)
    return InvocationStats(
        function_id=function_id,
        count=count,
        errors=errors,
        p50_ms=percentile_ms(buckets, 0.50),
        p95_ms=percentile_ms(buckets, 0.95),
        last_invoked_at=last,
        pending=pending.count if pending else 0,
    )

"""The pollers: find due tasks through DueIndex, claim each with a lease, and drive one step.

One supervised loop per process, not one coroutine per task: each tick reads the due index
(a few Queries, whatever the number of tasks), claims what is due, and runs the steps with
bounded concurrency. Tasks created here wake the loop at once; a step whose next poll comes
before the next tick arms a timer for it.
"""

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
from collections import Counter

from app.clock import now_ms
from app.config import Settings
from app.logging_setup import task_context
from app.observability import metrics
from app.storage import keys
from app.storage.tasks import TaskRepository
from app.table_guard import absorb_missing_table
from app.tasks.driver import TaskDriver

log = logging.getLogger(__name__)

DUE_PAGE = 100
# Due tasks started here but not yet stepped (waiting for a slot) at most, per slot. A tick
# reads only as many keys as there is room for: a key read while its task waits for a slot is
# read again, and parsed again, by every later tick (at 1,000 due tasks, the due-index reads
# were half of the process's CPU).
BACKLOG_PER_SLOT = 2


def replica_id() -> str:
    """A name for this process, unique across restarts (the lease owner)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class TaskPoller:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        driver: TaskDriver,
        settings: Settings,
        owner: str,
    ) -> None:
        self._tasks = tasks
        self._driver = driver
        self._settings = settings
        self._owner = owner
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.poller_concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._backlog = settings.poller_concurrency * BACKLOG_PER_SLOT
        # The last tick may have left due keys unread (no room, or a page came back full):
        # look again once half the backlog is free, not only at the next tick.
        self._more = False
        self.steps = 0

    def wake(self) -> None:
        """Look for due tasks now (a task was just created here)."""
        self._wake.set()

    def _wake_at(self, due_ms: int) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + max(due_ms - now_ms(), 0) / 1000
        if at >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire_timer)

    def _fire_timer(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        self._wake.set()

    async def run(self) -> None:
        """Poll until cancelled; one failed tick is logged and the loop goes on."""
        log.info("task poller %s started", self._owner)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.tick()
                except Exception as exc:
                    if not await absorb_missing_table(exc, self._settings):
                        log.exception("poller tick failed; retrying")
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with the event being set, and the loop would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.poller_tick_seconds):
                        await self._wake.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for step in list(self._in_flight.values()):
                step.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def tick(self) -> int:
        """Start a step for every due task not already in flight here; returns how many."""
        started = 0
        room = self._backlog - len(self._in_flight)
        if room <= 0:
            self._more = True
            return 0
        shards = keys.all_due_shards()
        share = -(-room // len(shards))
        # A shard's earliest due keys include those already here (waiting for a slot): read
        # past them.
        here = Counter(keys.due_shard(task_id) for task_id in self._in_flight)
        limits = [min(DUE_PAGE, share + here[shard]) for shard in shards]
        now = now_ms()
        pages = await asyncio.gather(
            *(
                self._tasks.due(shard=shard, now_ms=now, limit=limit)
                for shard, limit in zip(shards, limits, strict=True)
            )
        )
        self._more = any(len(page) >= limit for page, limit in zip(pages, limits, strict=True))
        for key in (key for page in pages for key in page):
            if key.task_id in self._in_flight:
                continue
            step = asyncio.create_task(self._claim_and_step(key), name=f"step {key.task_id}")
            self._in_flight[key.task_id] = step
            step.add_done_callback(functools.partial(self._done, key.task_id))
            started += 1
        return started

    def _done(self, task_id: str, _: asyncio.Task[None]) -> None:
        self._in_flight.pop(task_id, None)
        if self._more and len(self._in_flight) <= self._backlog // 2:
            self._more = False
            self._wake.set()

    async def _claim_and_step(self, key: keys.TaskKey) -> None:
        # Each step runs in its own asyncio task: the log context set here is its own.
        task_context.set(key.task_id)
        async with self._slots:
            lease_ms = int(self._settings.lease_seconds * 1000)
            task = await self._tasks.claim(
                key=key, now_ms=now_ms(), lease_ms=lease_ms, owner=self._owner
            )
            if task is None:
                return  # another replica holds it, or it is no longer due
            due_at = getattr(key, "due_at_ms", None)  # keys.DueKey, from the due index
            if due_at is not None:
                metrics.observe_poll_lag(seconds=(now_ms() - due_at) / 1000)
            try:
                saved, due = await self._driver.step(task)
            except Exception:
                # The lease runs out and the task is due again: nothing is lost.
                log.exception("step failed")
                return
            self.steps += 1
            if saved is None:
                log.info("step lost its lease")
                return
            if due is not None and due - now_ms() < self._settings.poller_tick_seconds * 1000:
                self._wake_at(due)

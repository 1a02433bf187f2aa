"""The change feed: one reader of the table's DynamoDB stream per replica, while anyone watches.

It learns of every write to a task or function item from the stream's records (which carry the
item as written), so it reads nothing from the table, and what it reads does not grow with the
number of subscribers: one GetRecords per shard per interval for the whole replica.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from app.errors import DomainError, ServiceUnavailable
from app.storage.changes import RECORDS_PER_READ, ChangeStream, ItemChange, StreamGone

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
# A read that returns this many changes has more behind it.
FULL_READ = RECORDS_PER_READ


class ChangeFeed:
    def __init__(
        self,
        *,
        stream: ChangeStream,
        poll_seconds: float,
        idle_seconds: float,
        deliver: Callable[[ItemChange], None],
        wanted: Callable[[], bool],
        resync: Callable[[], None],
        poll: Callable[[], Awaitable[list[ItemChange]]] | None = None,
    ) -> None:
        """With `poll`, changes come from calling it every interval instead of the stream."""
        self._stream = stream
        self._poll = poll_seconds
        self._idle = idle_seconds
        self._deliver = deliver
        self._wanted = wanted
        self._resync = resync  # records may have been missed: re-read what is watched
        self._poll_changes = poll
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self.reads = 0  # GetRecords calls (the benchmark and the metrics count them)

    async def start(self) -> None:
        """Run the reader if it is not running; return once it reads from the stream's end."""
        if self._task is None or self._task.done():
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._ready), name="event-feed")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        if self._poll_changes is not None:
            ready.set_result(None)
            await self._run_polls(self._poll_changes)
            return
        try:
            iterators, known, arn = await self._position()
        except BaseException as exc:
            if not ready.done():
                failure = exc if isinstance(exc, DomainError) else _unavailable("it is unreadable")
                ready.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            log.warning("event feed: cannot position on the change stream: %s", exc)
            return
        ready.set_result(None)
        idle_since: float | None = None
        while True:
            if self._wanted():
                idle_since = None
            else:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= self._idle:
                    self._task = None  # no await between the check and this: start() relaunches
                    return
            began = time.monotonic()
            try:
                busy, closed = await self._read_once(iterators)
                if closed:
                    await self._follow_children(arn, iterators, known)
            except StreamGone as exc:  # expired or trimmed: start again at the end, re-read
                log.warning("event feed: %s; repositioning", exc)
                iterators, known, arn = await self._reposition()
                self._resync()
                busy = False
            except DomainError as exc:
                log.warning("event feed: %s", exc.detail)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            except Exception:
                log.exception("event feed: unexpected error; retrying")
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if not busy:  # one read per interval, however long the read itself took
                await asyncio.sleep(max(self._poll - (time.monotonic() - began), 0.0))

    async def _run_polls(self, poll: Callable[[], Awaitable[list[ItemChange]]]) -> None:
        """The `poll` source: what is watched, read every interval (shared by all watchers)."""
        idle_since: float | None = None
        while True:
            if self._wanted():
                idle_since = None
            else:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= self._idle:
                    self._task = None
                    return
            began = time.monotonic()
            try:
                for change in await poll():
                    self._deliver(change)
            except DomainError as exc:
                log.warning("event feed (poll): %s", exc.detail)
            except Exception:
                log.exception("event feed (poll): unexpected error; retrying")
            await asyncio.sleep(max(self._poll - (time.monotonic() - began), 0.0))

    async def _position(self) -> tuple[dict[str, str], set[str], str]:
        arn = await self._stream.arn()
        if arn is None:
            raise _unavailable("the table has no change stream (app.bootstrap enables it)")
        iterators: dict[str, str] = {}
        known: set[str] = set()
        for shard in await self._stream.shards(arn):
            known.add(shard.shard_id)
            if shard.closed:
                continue
            iterator = await self._stream.iterator(arn=arn, shard_id=shard.shard_id, kind="LATEST")
            if iterator:
                iterators[shard.shard_id] = iterator
        return iterators, known, arn

    async def _reposition(self) -> tuple[dict[str, str], set[str], str]:
        while True:
            try:
                return await self._position()
            except Exception as exc:
                log.warning("event feed: cannot reposition: %s", exc)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _read_once(self, iterators: dict[str, str]) -> tuple[bool, bool]:
        """One GetRecords per open shard; (records came, a shard closed)."""
        busy = closed = False
        for shard_id, iterator in list(iterators.items()):
            self.reads += 1
            changes, following, _ = await self._stream.records(iterator)
            for change in changes:
                try:
                    self._deliver(change)
                except Exception:
                    log.exception("event feed: a subscriber channel failed on a change")
            busy = busy or len(changes) >= FULL_READ  # more is waiting: read again at once
            if following is None:
                del iterators[shard_id]
                closed = True
            else:
                iterators[shard_id] = following
        return busy, closed

    async def _follow_children(self, arn: str, iterators: dict[str, str], known: set[str]) -> None:
        """A shard closed: read its children from their start (nothing written is skipped)."""
        for shard in await self._stream.shards(arn):
            if shard.shard_id in known:
                continue
            known.add(shard.shard_id)
            iterator = await self._stream.iterator(
                arn=arn, shard_id=shard.shard_id, kind="TRIM_HORIZON"
            )
            if iterator:
                iterators[shard.shard_id] = iterator


def _unavailable(detail: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"Live events are unavailable: {detail}", code="EVENTS_UNAVAILABLE")

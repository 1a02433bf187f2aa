"""The change-stream reader against a scripted stream: what it does when the stream moves."""

import asyncio
from typing import Any

from app.events.feed import ChangeFeed
from app.storage.changes import ItemChange, Shard, StreamGone

CHANGE = ItemChange("function", "ws-1", "fn-1", removed=True)


class ScriptedStream:
    """Shards and records as told; counts what the reader asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.shards_now = [Shard("s1", None, closed=False)]
        self.script: list[Any] = []  # per records() call: an exception or (changes, next)
        self.after_close: list[Shard] = []  # the shards once a read says its shard closed

    async def arn(self) -> str | None:
        self.calls.append("arn")
        return "arn:stream"

    async def shards(self, arn: str) -> list[Shard]:
        self.calls.append("shards")
        return list(self.shards_now)

    async def iterator(
        self, *, arn: str, shard_id: str, kind: str, after: str | None = None
    ) -> str:
        self.calls.append(f"iterator {shard_id} {kind}")
        return f"it-{shard_id}"

    async def records(self, iterator: str) -> tuple[list[ItemChange], str | None, str | None]:
        self.calls.append(f"records {iterator}")
        step = self.script.pop(0) if self.script else ([], iterator)
        if isinstance(step, Exception):
            raise step
        changes, following = step
        if following is None and self.after_close:
            self.shards_now = self.after_close
        return changes, following, None


def _feed(stream: ScriptedStream, seen: list[ItemChange], resyncs: list[int]) -> ChangeFeed:
    return ChangeFeed(
        stream=stream,  # type: ignore[arg-type]
        poll_seconds=0.01,
        idle_seconds=60,
        deliver=seen.append,
        wanted=lambda: True,
        resync=lambda: resyncs.append(1),
    )


async def _until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (the feed runs in the same loop)
            await asyncio.sleep(0.01)


async def test_an_expired_iterator_repositions_at_the_end_and_asks_for_a_resync() -> None:
    stream, seen, resyncs = ScriptedStream(), list[ItemChange](), list[int]()
    stream.script = [StreamGone("ExpiredIteratorException"), ([CHANGE], "it-s1")]
    feed = _feed(stream, seen, resyncs)
    await feed.start()
    await _until(lambda: seen)
    await feed.stop()
    assert resyncs == [1] and seen == [CHANGE]
    assert stream.calls.count("iterator s1 LATEST") == 2  # at start, and after the loss


async def test_a_closed_shards_children_are_read_from_their_start() -> None:
    stream, seen, resyncs = ScriptedStream(), list[ItemChange](), list[int]()
    stream.script = [([], None), ([CHANGE], "it-s2")]  # s1 closes on the first read
    stream.after_close = [Shard("s1", None, closed=True), Shard("s2", "s1", closed=False)]
    feed = _feed(stream, seen, resyncs)
    await feed.start()
    await _until(lambda: seen)
    await feed.stop()
    assert "iterator s2 TRIM_HORIZON" in stream.calls and seen == [CHANGE] and not resyncs

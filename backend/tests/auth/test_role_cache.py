"""The per-process membership memory: positive answers only, for a few seconds."""

import asyncio
import time

from app.auth.role_cache import RoleCache


def test_a_remembered_role_expires() -> None:
    cache = RoleCache(ttl=0.05)
    cache.put("ws", "user:a", "owner")
    assert cache.get("ws", "user:a") == "owner"
    time.sleep(0.06)
    assert cache.get("ws", "user:a") is None


def test_forget_drops_a_role_at_once_and_ttl_zero_remembers_nothing() -> None:
    cache = RoleCache(ttl=60)
    cache.put("ws", "user:a", "member")
    cache.forget("ws", "user:a")
    assert cache.get("ws", "user:a") is None
    off = RoleCache(ttl=0)
    off.put("ws", "user:a", "member")
    assert off.get("ws", "user:a") is None


def test_the_oldest_entries_make_room() -> None:
    cache = RoleCache(ttl=60, max_entries=2)
    for name in ["a", "b", "c"]:
        cache.put("ws", name, "member")
    assert cache.get("ws", "a") is None
    assert cache.get("ws", "c") == "member"


class _Reads:
    """A membership read that waits until released, counting how often it ran."""

    def __init__(self, role: str | None = "member") -> None:
        self.role = role
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str | None:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return self.role


async def test_concurrent_misses_share_one_read_and_remember_its_answer() -> None:
    cache = RoleCache(ttl=60)
    reads = _Reads("owner")
    waiters = [asyncio.create_task(cache.lookup("ws", "user:a", reads)) for _ in range(50)]
    await asyncio.sleep(0)
    reads.release.set()
    assert await asyncio.gather(*waiters) == ["owner"] * 50
    assert reads.calls == 1
    assert await cache.lookup("ws", "user:a", reads) == "owner"  # remembered: no second read
    assert reads.calls == 1
    # Another key is its own read.
    other = _Reads("member")
    other.release.set()
    assert await cache.lookup("ws", "user:b", other) == "member"
    assert other.calls == 1


async def test_a_stranger_is_shared_but_not_remembered() -> None:
    cache = RoleCache(ttl=60)
    reads = _Reads(None)
    reads.release.set()
    assert (
        await asyncio.gather(*(cache.lookup("ws", "user:x", reads) for _ in range(5))) == [None] * 5
    )
    assert reads.calls == 1
    assert await cache.lookup("ws", "user:x", reads) is None
    assert reads.calls == 2  # asked again: a refusal is never cached


async def test_a_failed_read_reaches_every_waiter_and_is_not_remembered() -> None:
    cache = RoleCache(ttl=60)
    reads = _Reads("member")
    reads.fail = RuntimeError("storage down")
    waiters = [asyncio.create_task(cache.lookup("ws", "user:a", reads)) for _ in range(3)]
    await asyncio.sleep(0)
    reads.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert reads.calls == 1
    reads.fail = None
    assert await cache.lookup("ws", "user:a", reads) == "member"
    assert reads.calls == 2


async def test_forget_during_a_read_keeps_its_answer_out_of_the_cache() -> None:
    cache = RoleCache(ttl=60)
    stale = _Reads("member")  # read before the member was removed
    waiter = asyncio.create_task(cache.lookup("ws", "user:a", stale))
    await asyncio.sleep(0)
    cache.forget("ws", "user:a")  # the removal, on this replica
    fresh = _Reads(None)
    fresh.release.set()
    assert await cache.lookup("ws", "user:a", fresh) is None  # a new read, not the stale one
    stale.release.set()
    assert await waiter == "member"  # that request started before the removal
    assert cache.get("ws", "user:a") is None
    assert await cache.lookup("ws", "user:a", fresh) is None
    assert fresh.calls == 2


async def test_a_waiter_that_goes_away_does_not_cancel_the_others_read() -> None:
    cache = RoleCache(ttl=60)
    reads = _Reads("member")
    first = asyncio.create_task(cache.lookup("ws", "user:a", reads))
    second = asyncio.create_task(cache.lookup("ws", "user:a", reads))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    reads.release.set()
    assert await second == "member"
    assert first.cancelled()
    assert reads.calls == 1
    assert cache.get("ws", "user:a") == "member"


async def test_an_expired_entry_is_read_again_once() -> None:
    cache = RoleCache(ttl=0.05)
    reads = _Reads("member")
    reads.release.set()
    assert await cache.lookup("ws", "user:a", reads) == "member"
    await asyncio.sleep(0.06)
    assert (
        await asyncio.gather(*(cache.lookup("ws", "user:a", reads) for _ in range(10)))
        == ["member"] * 10
    )
    assert reads.calls == 2

"""The poller reads only as many due keys as it has room for, and reads again when room frees."""

import asyncio
from typing import Any

from app.config import Settings
from app.storage import keys
from app.tasks.poller import BACKLOG_PER_SLOT, DUE_PAGE, TaskPoller


class _Tasks:
    """A due index of `count` tasks, earliest first per shard; a claim always succeeds."""

    def __init__(self, count: int) -> None:
        self.due_keys = [keys.TaskKey("ws", f"01JTASK{number:019d}") for number in range(count)]
        self.limits: list[int] = []

    async def due(self, *, shard: str, now_ms: int, limit: int) -> list[keys.TaskKey]:
        self.limits.append(limit)
        return [key for key in self.due_keys if keys.due_shard(key.task_id) == shard][:limit]

    async def claim(self, *, key: keys.TaskKey, **_: Any) -> keys.TaskKey:
        return key


class _Driver:
    """Steps that end when released; a finished task leaves the due index."""

    def __init__(self, tasks: _Tasks) -> None:
        self.tasks = tasks
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0

    async def step(self, key: keys.TaskKey) -> tuple[object, None]:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        self.tasks.due_keys.remove(key)
        return key, None


def _poller(tasks: _Tasks, driver: _Driver, concurrency: int) -> TaskPoller:
    settings = Settings(_env_file=None, poller_concurrency=concurrency, poller_tick_seconds=30)  # type: ignore[call-arg]
    return TaskPoller(tasks=tasks, driver=driver, settings=settings, owner="test")  # type: ignore[arg-type]


async def test_a_tick_takes_no_more_than_the_backlog_and_reads_past_its_own() -> None:
    tasks = _Tasks(500)
    driver = _Driver(tasks)
    poller = _poller(tasks, driver, concurrency=4)
    backlog = 4 * BACKLOG_PER_SLOT
    assert await poller.tick() == backlog
    assert all(limit <= DUE_PAGE for limit in tasks.limits)
    assert sum(tasks.limits) <= backlog + len(keys.all_due_shards())  # not 8 pages of 100
    await asyncio.sleep(0.01)
    assert driver.most == 4  # the slots bound the steps
    tasks.limits.clear()
    assert await poller.tick() == 0  # full: no read at all
    assert tasks.limits == []
    driver.release.set()
    await asyncio.sleep(0.05)
    assert await poller.tick() == backlog  # room again: the next earliest, past nothing stale


async def test_a_full_poller_wakes_itself_when_half_its_backlog_is_free() -> None:
    tasks = _Tasks(300)
    driver = _Driver(tasks)
    poller = _poller(tasks, driver, concurrency=2)
    runner = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.05)
        assert driver.running == 2
        driver.release.set()
        # Without the wake the next tick would be 30 s away; all 300 finish well before.
        for _ in range(200):
            if not tasks.due_keys:
                break
            await asyncio.sleep(0.01)
        assert tasks.due_keys == []
        assert driver.most == 2
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

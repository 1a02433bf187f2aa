"""A short-lived, per-process memory of who is a member of which workspace.

Status polling is the hottest route, and without this every poll costs a membership read
besides the task read. Only positive answers are kept, for `ttl` seconds: a removed member
keeps access on other replicas for at most that long (this replica forgets at once).

Lookups are single-flight: when an entry is missing or has just expired, concurrent requests
for the same (workspace, subject) share one membership read instead of each making its own
(50 pollers of one task used to make 50 reads every `ttl` seconds).
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

RoleLoader = Callable[[], Awaitable[str | None]]


class RoleCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        # Reads in progress; a key leaves when its read ends or is forgotten.
        self._loading: dict[tuple[str, str], asyncio.Task[str | None]] = {}

    def get(self, workspace_id: str, subject: str) -> str | None:
        entry = self._entries.get((workspace_id, subject))
        if entry is None:
            return None
        expires, role = entry
        if expires < time.monotonic():
            del self._entries[(workspace_id, subject)]
            return None
        return role

    def put(self, workspace_id: str, subject: str, role: str) -> None:
        if self._ttl <= 0:
            return
        self._entries[(workspace_id, subject)] = (time.monotonic() + self._ttl, role)
        self._entries.move_to_end((workspace_id, subject))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, workspace_id: str, subject: str) -> None:
        """Drop the entry, and let a read already in progress remember nothing (it may have
        seen the membership before it changed); later lookups read afresh."""
        self._entries.pop((workspace_id, subject), None)
        self._loading.pop((workspace_id, subject), None)

    async def lookup(self, workspace_id: str, subject: str, load: RoleLoader) -> str | None:
        """The remembered role, else `load()`'s answer, shared by every concurrent caller
        for the same key (a positive answer is remembered; a failure reaches them all and is
        not remembered)."""
        role = self.get(workspace_id, subject)
        if role is not None:
            return role
        key = (workspace_id, subject)
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.create_task(self._load(key, load))
            # Its failure is each waiter's to see; if all went away, nobody's.
            loading.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._loading[key] = loading
        # Shielded: a caller that goes away (a client disconnecting) does not cancel the
        # read the others wait for.
        return await asyncio.shield(loading)

    async def _load(self, key: tuple[str, str], load: RoleLoader) -> str | None:
        mine = asyncio.current_task()
        try:
            role = await load()
            if role is not None and self._loading.get(key) is mine:  # not forgotten meanwhile
                self.put(*key, role)
            return role
        finally:
            if self._loading.get(key) is mine:
                del self._loading[key]

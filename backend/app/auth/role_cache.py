"""A short-lived, per-process memory of who is a member of which workspace.

Status polling is the hottest route, and without this every poll costs a membership read
besides the task read. Only positive answers are kept, for `ttl` seconds: a removed member
keeps access on other replicas for at most that long (this replica forgets at once).
"""

import time
from collections import OrderedDict


class RoleCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()

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
        self._entries.pop((workspace_id, subject), None)

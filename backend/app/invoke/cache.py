"""A short-lived, per-process memory of functions, for the invoke route only.

Invoking is the hottest route a function has, and its access check would otherwise read the
function (an IdIndex query) on every call. The record is kept for `ttl` seconds
(INVOKE_FUNCTION_CACHE_SECONDS, like the membership cache): a function deleted or redeployed
through another replica is seen here at most that much later — its app is undeployed first,
so such a call reaches an endpoint that answers FUNCTION_NOT_DEPLOYED. This replica forgets a
function it deletes at once. Membership is still checked on every call (app.auth.RoleCache).
"""

import time
from collections import OrderedDict

from app.functions.models import FunctionRecord


class FunctionCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, FunctionRecord]] = OrderedDict()

    def get(self, function_id: str) -> FunctionRecord | None:
        entry = self._entries.get(function_id)
        if entry is None:
            return None
        expires, record = entry
        if expires < time.monotonic():
            del self._entries[function_id]
            return None
        return record

    def put(self, record: FunctionRecord) -> None:
        """Keep `record`; one without an endpoint is not kept (it is about to get one)."""
        if self._ttl <= 0 or not record.endpoint:
            return
        self._entries[record.id] = (time.monotonic() + self._ttl, record)
        self._entries.move_to_end(record.id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, function_id: str) -> None:
        self._entries.pop(function_id, None)

"""The per-process membership memory: positive answers only, for a few seconds."""

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

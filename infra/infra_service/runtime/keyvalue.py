"""The app's `default` key-value store: one SQLite file under kv_dir, shared by its replicas."""

import sqlite3
import threading
from pathlib import Path

DEFAULT_STORE = "default"


class KeyValueStore:
    """A thread-safe key → bytes table; every write is committed before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection guarded by a lock: calls are short, and replicas of the same app in
        # other processes meet through SQLite's own file locking (WAL, busy timeout).
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=5.0)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
            )
            self._db.commit()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            self._db.commit()

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
            self._db.commit()

    def exists(self, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone()
        return row is not None

    def keys(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM kv ORDER BY key").fetchall()
        return [row[0] for row in rows]

    def increment(self, key: str, delta: int) -> int:
        """Add `delta` to the decimal integer stored under `key` (missing: 0), atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
                value = int(bytes(row[0]).decode()) + delta if row else delta
                self._db.execute(
                    "INSERT INTO kv (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, str(value).encode()),
                )
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
        return value

    def close(self) -> None:
        with self._lock:
            self._db.close()

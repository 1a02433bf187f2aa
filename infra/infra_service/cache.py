"""Content-addressed build cache: the same source with the same toolchain builds once.

The key is the sha256 of the source bytes and the toolchain pins. The cache remembers where
in S3 the component of each key already is; a hit is a server-side copy to the new artifact
path. The index lives in memory and in a small JSON file in the scratch folder, so it survives
a restart of the process; an entry whose object is gone or changed is dropped, not trusted.
"""

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedBuild:
    wasm_path: str  # s3://bucket/key of a component built from the same inputs
    sha256: str
    size: int


def cache_key(*, source_sha256: str, source_name: str, toolchain: str) -> str:
    """Digest of the source bytes, how they are read (.py or .zip), and the toolchain pins."""
    kind = "zip" if source_name.lower().endswith(".zip") else "py"
    return hashlib.sha256(f"{source_sha256}\n{kind}\n{toolchain}".encode()).hexdigest()


class BuildCache:
    def __init__(self, *, index_file: Path, enabled: bool = True) -> None:
        self._file = index_file
        self._enabled = enabled
        self._entries: dict[str, CachedBuild] = {}
        if enabled and index_file.is_file():
            try:
                raw = json.loads(index_file.read_text())
                self._entries = {key: CachedBuild(**value) for key, value in raw.items()}
            except (ValueError, TypeError) as exc:
                log.warning("ignoring an unreadable build cache index: %s", exc)

    def get(self, key: str) -> CachedBuild | None:
        return self._entries.get(key) if self._enabled else None

    def put(self, key: str, build: CachedBuild) -> None:
        if not self._enabled:
            return
        self._entries[key] = build
        self._save()

    def forget(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        # Write then rename, so a crash never leaves half an index behind.
        temporary = self._file.with_suffix(".tmp")
        temporary.write_text(json.dumps({k: asdict(v) for k, v in self._entries.items()}))
        os.replace(temporary, self._file)

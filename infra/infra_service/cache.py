"""Content-addressed build cache: the same source with the same toolchain builds once.

The key is the sha256 of the source bytes and the toolchain pins. The cache remembers where
in S3 the component of each key already is; a hit is a server-side copy to the new artifact
path. The index lives in memory and in a small JSON file in the scratch folder, so it survives
a restart of the process; an entry whose object is gone or changed is dropped, not trusted.

Optionally (INFRA_BUILD_CACHE_DIR) the components themselves are also kept on this node's disk,
one file per key (`<key>.<sha256>.wasm`, written to a temp file and renamed), so a hit survives
an S3 object that was deleted or a bucket that was reset: the bytes are checked against their
sha256 as they are read, then uploaded to the new artifact path. The folder is bounded
(INFRA_BUILD_CACHE_MAX_BYTES): the least recently used files go first. Several services may
share one folder (as one user: the files are mode 0600); every write is a rename, and a
reader holds its file open while it copies.
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
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


class LocalComponents:
    """Components on this node's disk by cache key, sha256-checked on read, LRU-bounded."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def _entries(self, key: str) -> list[Path]:
        return sorted(self.root.glob(f"{key}.*.wasm"))

    def get(self, key: str, dest: Path) -> CachedBuild | None:
        """Copy the component of `key` to `dest` and describe it; None on a miss.

        A file whose bytes do not match the sha256 in its name is deleted, not served.
        """
        for path in self._entries(key):
            expected = path.name.removeprefix(f"{key}.").removesuffix(".wasm")
            digest = hashlib.sha256()
            size = 0
            try:
                with path.open("rb") as source, dest.open("wb") as target:
                    while chunk := source.read(1024 * 1024):
                        digest.update(chunk)
                        target.write(chunk)
                        size += len(chunk)
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            if digest.hexdigest() != expected:
                log.warning("local build cache file %s does not match its sha256; removed", path)
                path.unlink(missing_ok=True)
                dest.unlink(missing_ok=True)
                continue
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: evicted last
            return CachedBuild(wasm_path=str(path), sha256=expected, size=size)
        return None

    def put(self, key: str, wasm: Path, *, sha256: str) -> None:
        """Keep a copy of `wasm` (whose sha256 is known) under `key`, then evict past the bound."""
        size = wasm.stat().st_size
        if size > self.max_bytes:
            log.info(
                "component of %s (%d bytes) exceeds the local build cache; not kept", key, size
            )
            return
        target = self.root / f"{key}.{sha256}.wasm"
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out, wasm.open("rb") as source:
                shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
        self._evict(keep=target)

    def _evict(self, *, keep: Path) -> None:
        files: list[tuple[float, int, Path]] = []
        for path in self.root.glob("*.wasm"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):  # oldest use first
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            log.info("local build cache: evicted %s (%d bytes)", path.name, size)


class BuildCache:
    def __init__(
        self,
        *,
        index_file: Path,
        enabled: bool = True,
        local: LocalComponents | None = None,
    ) -> None:
        self._file = index_file
        self._enabled = enabled
        self.local = local if enabled else None
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

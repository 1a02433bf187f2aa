"""The local runtime's files: desired state per app, verified components, per-app data.

    <runtime dir>/
      blobs/sha256/<hex>         components, content-addressed, written only once verified
      compiled/                  the hosts' cache of compiled components (or
                                 INFRA_RUNTIME_COMPILED_DIR, which services may share)
      apps/<namespace>/<name>/
        app.json                 desired state (what to run), replaced atomically
        kv/                      the app's key-value data (kept by its hosts)
        logs/                    its runtime logs (logs.py)
        replicas/<id>.json|.pid  host configs, and the pid of each running host
      tmp/                       downloads in progress, one-shot runs

Namespace and name are DNS labels (checked before they get here), so they are safe path parts.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, order=True)
class AppKey:
    """An app is named by its SpinApp's namespace and name."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        for part in (self.namespace, self.name):
            if not part or len(part) > 63 or not set(part) <= _LABEL_CHARS:
                raise ValueError(f"not a DNS label: {part!r}")

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class AppSpec(BaseModel):
    """The desired state of one app: which verified component runs, how, and how many times."""

    namespace: str
    name: str
    image: str  # as the SpinApp names it
    image_digest: str  # the manifest's digest, checked
    wasm_digest: str  # sha256:<hex>, a file in blobs/
    wasm_size: int
    locked_app: dict[str, Any]
    variables: dict[str, str]
    replicas: int
    version: str  # what a replica runs: changes with the component, locked app or variables
    generation: int  # counts versions; names replicas (g<generation>-r<n>)
    updated_at: str

    @property
    def key(self) -> AppKey:
        return AppKey(self.namespace, self.name)


def version_of(*, wasm_digest: str, locked_app: dict[str, Any], variables: dict[str, str]) -> str:
    """Equal for deploys that would run the same thing, whatever the replica count."""
    body = json.dumps([wasm_digest, locked_app, variables], sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:16]


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` whole or not at all (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


class RuntimeStore:
    """Paths and atomic writes under the runtime dir."""

    def __init__(self, root: Path, *, compiled: Path | None = None) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.compiled = compiled or root / "compiled"
        self.apps = root / "apps"
        self.tmp = root / "tmp"
        for folder in (self.blobs, self.compiled, self.apps, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():  # from a process that died mid-download
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()

    def app_dir(self, key: AppKey) -> Path:
        return self.apps / key.namespace / key.name

    def kv_dir(self, key: AppKey) -> Path:
        return self.app_dir(key) / "kv"

    def logs_dir(self, key: AppKey) -> Path:
        return self.app_dir(key) / "logs"

    def replicas_dir(self, key: AppKey) -> Path:
        return self.app_dir(key) / "replicas"

    def save(self, spec: AppSpec) -> None:
        write_atomically(self.app_dir(spec.key) / "app.json", spec.model_dump_json().encode())

    def load(self, key: AppKey) -> AppSpec | None:
        path = self.app_dir(key) / "app.json"
        try:
            return AppSpec.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            log.error("desired state of %s is unreadable (%s); ignoring it", key, path)
            return None

    def load_all(self) -> list[AppSpec]:
        """Every stored app, in name order; unreadable ones are logged and skipped."""
        specs = []
        for path in sorted(self.apps.glob("*/*/app.json")):
            with contextlib.suppress(ValueError):
                spec = self.load(AppKey(path.parent.parent.name, path.parent.name))
                if spec is not None:
                    specs.append(spec)
        return specs

    def forget(self, key: AppKey) -> bool:
        """Delete the app's desired state and data; whether there was any."""
        folder = self.app_dir(key)
        existed = (folder / "app.json").exists()
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # the namespace folder, once empty
        return existed

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not set(hexdigest) <= _HEX:
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.blobs / hexdigest

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    async def put_blob(self, digest: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> int:
        """Store a blob that must hash to `digest`; its size. BlobMismatch/BlobTooLarge else."""
        target = self.blob_path(digest)
        hasher = hashlib.sha256()
        size = 0
        with self._temp_file() as (tmp, out):
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(f"larger than the limit of {max_bytes} bytes")
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())  # tens of ms: not on the loop
            actual = "sha256:" + hasher.hexdigest()
            if actual != digest:
                raise BlobMismatch(f"content hashes to {actual}, not {digest}")
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        return size

    @contextlib.contextmanager
    def _temp_file(self) -> Iterator[tuple[Path, Any]]:
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                yield path, out
        finally:
            path.unlink(missing_ok=True)

    def collect_blobs(self, *, keep: set[str], spare: int) -> int:
        """Delete components no app uses, but the `spare` newest (fast rollbacks); how many."""
        unused = [
            path
            for path in self.blobs.iterdir()
            if f"sha256:{path.name}" not in keep and not path.name.startswith(".")
        ]
        unused.sort(key=lambda path: path.stat().st_mtime, reverse=True)
        for path in unused[spare:]:
            path.unlink(missing_ok=True)
        return max(0, len(unused) - spare)

    def scratch(self, prefix: str) -> Path:
        """A fresh folder under tmp/ (the caller removes it)."""
        return Path(tempfile.mkdtemp(dir=self.tmp, prefix=prefix))


class BlobMismatch(Exception):
    """The downloaded content does not hash to its digest."""


class BlobTooLarge(Exception):
    """The content is larger than allowed."""

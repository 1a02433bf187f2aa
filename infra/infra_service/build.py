"""The build job: S3 source → safe unpack → cheap checks → componentize-py → .wasm in S3.

The full log (our steps, pip's and the compiler's output) is uploaded in every outcome to the
request's `log_path` (or `build-logs/{job_id}/build.log` when it names none); a failure's
message carries the compiler's own error lines.
"""

import asyncio
import hashlib
import logging
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from infra_service.archive import unpack_source
from infra_service.cache import BuildCache, CachedBuild, cache_key
from infra_service.config import Settings
from infra_service.jobs import Job, JobFailure
from infra_service.metrics import record_build_cache
from infra_service.precheck import check_sources
from infra_service.requirements import PURE_PYTHON_HINT, pip_command, read_requirements
from infra_service.storage import ObjectStore, S3Location, parse_s3_path
from infra_service.toolchain import Limits, Toolchain, child_env, run_limited

log = logging.getLogger(__name__)

WASM_CONTENT_TYPE = "application/wasm"
_ERROR_TAIL_BYTES = 64 * 1024
_ERROR_LINES = 25


class BuildLog:
    """The build's log file in the scratch folder; child processes append to it too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def line(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"[{stamp}] {message}\n")

    def offset(self) -> int:
        return self.path.stat().st_size

    def error_lines(self, since: int) -> str:
        """The last meaningful lines a child wrote after `since` (no Rust backtrace)."""
        with self.path.open("rb") as handle:
            handle.seek(max(since, self.offset() - _ERROR_TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
        text = text.split("Stack backtrace:", 1)[0]
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        return "\n".join(lines[-_ERROR_LINES:])[-4000:]


class Builder:
    def __init__(
        self,
        *,
        settings: Settings,
        objects: ObjectStore,
        toolchain: Toolchain,
        cache: BuildCache,
        compile_slots: asyncio.Semaphore,
    ) -> None:
        self._settings = settings
        self._objects = objects
        self._toolchain = toolchain
        self._cache = cache
        self._slots = compile_slots

    def check(self, request: dict[str, Any]) -> None:
        """Refuse at once (422) what could never build: paths outside the bucket."""
        bucket = self._settings.s3_bucket
        parse_s3_path(request["source"], bucket=bucket, field="source")
        parse_s3_path(request["artifact"], bucket=bucket, field="artifact")
        if request.get("log_path"):
            parse_s3_path(request["log_path"], bucket=bucket, field="log_path")

    async def run(self, job: Job) -> dict[str, Any]:
        """Build one job's source; the log reaches S3 whatever happens."""
        request = job.request
        bucket = self._settings.s3_bucket
        source = parse_s3_path(request["source"], bucket=bucket, field="source")
        artifact = parse_s3_path(request["artifact"], bucket=bucket, field="artifact")
        log_location = (
            parse_s3_path(request["log_path"], bucket=bucket, field="log_path")
            if request.get("log_path")
            else self._objects.location(f"build-logs/{job.job_id}/build.log")
        )
        job.log_path = log_location.url
        self._settings.scratch_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="build-", dir=self._settings.scratch_dir))
        build_log = BuildLog(workdir / "build.log")
        job.live_log = build_log.path
        build_log.line(f"job {job.job_id} (key {job.job_key}), app {request['app_name']}")
        build_log.line(f"toolchain: {self._toolchain.fingerprint}")
        try:
            result = await self._build(request, source, artifact, workdir, build_log)
            build_log.line(f"succeeded: {result['wasm_path']} ({result['size']} bytes)")
            return result
        except JobFailure as failure:
            build_log.line(f"FAILED ({failure.code}): {failure.message}")
            raise
        except BaseException as exc:
            build_log.line(f"FAILED (internal error: {type(exc).__name__})")
            raise
        finally:
            await self._store_log(job, build_log, log_location)
            job.live_log = None  # from now on GET …/log reads the stored copy
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _build(
        self,
        request: dict[str, Any],
        source: S3Location,
        artifact: S3Location,
        workdir: Path,
        build_log: BuildLog,
    ) -> dict[str, Any]:
        filename = PurePosixPath(source.key).name
        downloaded = workdir / "source"
        build_log.line(f"fetching {source.url}")
        source_sha = await self._objects.download(
            source, downloaded, max_bytes=self._settings.max_source_bytes
        )
        build_log.line(f"source sha256 {source_sha}")
        key = cache_key(
            source_sha256=source_sha, source_name=filename, toolchain=self._toolchain.fingerprint
        )
        cached = await self._from_cache(key, artifact, build_log)
        if cached is None:
            cached = await self._from_local_cache(key, source_sha, artifact, workdir, build_log)
        if cached is not None:
            return {**cached, "source_sha256": source_sha}

        app_dir = workdir / "app"
        app_dir.mkdir()
        names = await asyncio.to_thread(
            unpack_source,
            downloaded,
            filename=filename,
            dest=app_dir,
            max_entries=self._settings.max_archive_entries,
            max_bytes=self._settings.max_unpacked_bytes,
        )
        build_log.line(f"unpacked {len(names)} file(s): {', '.join(names[:20])}")
        for note in await asyncio.to_thread(check_sources, app_dir):
            build_log.line(f"check: {note}")

        home = workdir / "home"
        home.mkdir()
        env = child_env(toolchain=self._toolchain, home=home)
        python_path = ["."]
        async with self._slots:
            deps = await self._install_requirements(app_dir, workdir, env, build_log)
            if deps is not None:
                python_path.append(str(deps))
            output = workdir / "app.wasm"
            await self._compile(app_dir, python_path, output, env, build_log)

        digest, size = await asyncio.to_thread(_digest_and_check, output)
        build_log.line(f"component sha256 {digest}, {size} bytes; uploading to {artifact.url}")
        metadata = {"sha256": digest, "source-sha256": source_sha, "toolchain-key": key}
        await self._objects.upload(
            output, artifact, content_type=WASM_CONTENT_TYPE, metadata=metadata
        )
        self._cache.put(key, CachedBuild(wasm_path=artifact.url, sha256=digest, size=size))
        await self._keep_locally(key, output, digest)
        return {
            "wasm_path": artifact.url,
            "sha256": digest,
            "size": size,
            "cached": False,
            "source_sha256": source_sha,
        }

    async def _from_cache(
        self, key: str, artifact: S3Location, build_log: BuildLog
    ) -> dict[str, Any] | None:
        hit = self._cache.get(key)
        if hit is None:
            record_build_cache(hit=False)
            return None
        previous = parse_s3_path(hit.wasm_path, bucket=self._settings.s3_bucket, field="cache")
        found = await self._objects.metadata(previous)
        if found is None or found.get("sha256") != hit.sha256 or found["size"] != hit.size:
            build_log.line(f"cache entry {key[:16]}… is stale ({hit.wasm_path}); rebuilding")
            self._cache.forget(key)
            record_build_cache(hit=False)
            return None
        if previous != artifact:
            await self._objects.copy(previous, artifact)
        build_log.line(f"served from the build cache (same inputs as {hit.wasm_path})")
        record_build_cache(hit=True)
        return {"wasm_path": artifact.url, "sha256": hit.sha256, "size": hit.size, "cached": True}

    async def _from_local_cache(
        self, key: str, source_sha: str, artifact: S3Location, workdir: Path, build_log: BuildLog
    ) -> dict[str, Any] | None:
        """A hit in the node-local folder: its checked bytes are uploaded to `artifact`."""
        local = self._cache.local
        if local is None:
            return None
        copy = workdir / "cached.wasm"
        try:
            hit = await asyncio.to_thread(local.get, key, copy)
        except OSError as exc:
            build_log.line(f"node-local build cache unreadable ({exc}); building")
            return None
        if hit is None:
            return None
        build_log.line(f"served from the node-local build cache ({hit.sha256}); uploading")
        metadata = {"sha256": hit.sha256, "source-sha256": source_sha, "toolchain-key": key}
        await self._objects.upload(
            copy, artifact, content_type=WASM_CONTENT_TYPE, metadata=metadata
        )
        self._cache.put(key, CachedBuild(wasm_path=artifact.url, sha256=hit.sha256, size=hit.size))
        return {"wasm_path": artifact.url, "sha256": hit.sha256, "size": hit.size, "cached": True}

    async def _keep_locally(self, key: str, output: Path, digest: str) -> None:
        local = self._cache.local
        if local is None:
            return
        try:
            await asyncio.to_thread(local.put, key, output, sha256=digest)
        except OSError as exc:  # a full or read-only disk costs the next build, not this one
            log.warning("could not keep the component in the node-local build cache: %s", exc)

    async def _install_requirements(
        self, app_dir: Path, workdir: Path, env: dict[str, str], build_log: BuildLog
    ) -> Path | None:
        file = app_dir / "requirements.txt"
        if not file.is_file():
            return None
        wanted, notes = read_requirements(file)
        for note in notes:
            build_log.line(note)
        if not wanted:
            return None
        if not self._settings.allow_requirements:
            raise JobFailure(
                "BUILD_FAILED",
                "requirements.txt lists packages, but this service does not install "
                "dependencies (INFRA_ALLOW_REQUIREMENTS=false); vendor pure-Python code instead.",
            )
        deps = workdir / "deps"
        build_log.line(f"installing pure-Python wheels: {', '.join(wanted)}")
        command = pip_command(
            requirements=wanted,
            target=deps,
            index_url=self._settings.pip_index_url,
            find_links=self._settings.pip_find_links,
        )
        since = build_log.offset()
        limits = self._limits(self._settings.requirements_timeout_seconds)
        result = await run_limited(
            command, cwd=app_dir, env=env, log_file=build_log.path, limits=limits
        )
        if result.timed_out:
            raise JobFailure(
                "BUILD_TIMEOUT",
                f"Installing requirements did not finish within {limits.timeout_seconds:.0f} s.",
            )
        if result.returncode != 0:
            raise JobFailure(
                "BUILD_FAILED",
                f"Installing requirements.txt failed. {PURE_PYTHON_HINT}\n"
                + build_log.error_lines(since),
            )
        build_log.line(f"requirements installed in {result.seconds:.1f} s")
        return deps

    async def _compile(
        self,
        app_dir: Path,
        python_path: list[str],
        output: Path,
        env: dict[str, str],
        build_log: BuildLog,
    ) -> None:
        command = self._toolchain.componentize_command(python_path=python_path, output=str(output))
        build_log.line("$ componentize-py -w spin-http componentize app -o app.wasm")
        since = build_log.offset()
        limits = self._limits(self._settings.build_timeout_seconds)
        result = await run_limited(
            command, cwd=app_dir, env=env, log_file=build_log.path, limits=limits
        )
        if result.timed_out:
            raise JobFailure(
                "BUILD_TIMEOUT",
                f"componentize-py did not finish within {limits.timeout_seconds:.0f} s; "
                "it was stopped.",
            )
        if result.returncode != 0 or not await asyncio.to_thread(output.is_file):
            raise JobFailure(
                "BUILD_FAILED",
                f"componentize-py failed (exit code {result.returncode}):\n"
                + build_log.error_lines(since),
            )
        build_log.line(f"compiled in {result.seconds:.1f} s")

    def _limits(self, timeout: float) -> Limits:
        return Limits(
            timeout_seconds=timeout,
            memory_bytes=self._settings.build_memory_bytes,
            nice=self._settings.build_nice,
        )

    async def _store_log(self, job: Job, build_log: BuildLog, target: S3Location) -> None:
        try:
            await self._objects.upload(
                build_log.path, target, content_type="text/plain; charset=utf-8"
            )
        except JobFailure:
            log.warning("could not store the build log at %s", target.url)
            job.log_path = None


def _digest_and_check(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        if handle.read(8)[:4] != b"\0asm":
            raise JobFailure("BUILD_FAILED", "componentize-py produced no WebAssembly output.")
        handle.seek(0)
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size

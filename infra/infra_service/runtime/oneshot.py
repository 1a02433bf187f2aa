"""Test invocations: run a built component once, in the same sandbox as a deployed replica.

The component comes from S3 (the build's wasm_path) and must hash to the `sha256` the build
recorded on the object; it is kept content-addressed like a pulled one, so a later deploy of
the same build (or another test) neither downloads nor compiles it again. The host runs as
`<host command> once --config <replica>.json` with the request as JSON on stdin and answers
one TestInvocationResult line on stdout. Each run gets a fresh, empty key-value store.
"""

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import time

from contract.runtime import FunctionErrorCode, TestInvocationRequest, TestInvocationResult
from infra_service.config import Settings
from infra_service.errors import ArtifactCorrupt, ArtifactNotFound, DependencyFailed
from infra_service.jobs import JobFailure
from infra_service.push import locked_app
from infra_service.runtime.replicas import host_command, host_config, host_environment
from infra_service.runtime.store import AppKey, BlobMismatch, BlobTooLarge, RuntimeStore
from infra_service.runtime.supervisor import child_setup, describe_exit
from infra_service.storage import ObjectStore, parse_s3_path

OUTPUT_TAIL = 64 * 1024  # of a host's stderr, when it fails without a result
KILL_MARGIN_SECONDS = 5.0  # past the host's own limits, before the service kills it


class OneShotRunner:
    """Runs test invocations, a bounded number at a time."""

    def __init__(self, *, settings: Settings, objects: ObjectStore, store: RuntimeStore) -> None:
        self._settings = settings
        self._objects = objects
        self._store = store
        self._slots = asyncio.Semaphore(settings.runtime_test_concurrency)
        self._command = host_command(settings)
        self._env = host_environment()

    async def run(self, request: TestInvocationRequest) -> TestInvocationResult:
        """What the component answered to `request.request`."""
        digest = await self._fetch(request.wasm_path)
        async with self._slots:
            return await self._invoke(request, digest)

    async def _fetch(self, wasm_path: str) -> str:
        location = parse_s3_path(wasm_path, bucket=self._settings.s3_bucket, field="wasm_path")
        try:
            stored = await self._objects.metadata(location)
        except JobFailure as failure:
            raise DependencyFailed(failure.code, failure.message) from failure
        if stored is None:
            raise ArtifactNotFound(f"No component at {wasm_path}; build it first.")
        sha = str(stored.get("sha256", ""))
        if len(sha) != 64:
            raise ArtifactCorrupt(f"{wasm_path} carries no sha256 from a build; rebuild it.")
        digest = f"sha256:{sha}"
        if self._store.has_blob(digest):
            return digest
        try:
            await self._store.put_blob(
                digest,
                self._objects.stream(location),
                max_bytes=self._settings.runtime_max_component_bytes,
            )
        except BlobMismatch as exc:
            raise ArtifactCorrupt(f"{wasm_path}: {exc} (its recorded sha256).") from exc
        except BlobTooLarge as exc:
            raise ArtifactCorrupt(f"{wasm_path}: {exc}.") from exc
        except JobFailure as failure:
            raise DependencyFailed(failure.code, failure.message) from failure
        return digest

    async def _invoke(self, request: TestInvocationRequest, digest: str) -> TestInvocationResult:
        folder = self._store.scratch("once-")
        try:
            app = locked_app(
                app_name=request.app_name,
                version="test",
                wasm_digest=digest,
                variables=list(request.variables),
            )
            if request.allowed_outbound_hosts:
                metadata = app["components"][0].setdefault("metadata", {})
                metadata["allowed_outbound_hosts"] = request.allowed_outbound_hosts
            config = host_config(
                settings=self._settings,
                store=self._store,
                key=AppKey("test", request.app_name),
                replica_id="test",
                component=self._store.blob_path(digest),
                wasm_digest=digest,
                locked_app=app,
                variables=request.variables,
                kv_dir=folder / "kv",
            )
            config_path = folder / "replica.json"
            config_path.write_text(json.dumps(config))
            return await self._run_host(config_path, request.request.model_dump_json())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _run_host(self, config_path: os.PathLike[str], stdin: str) -> TestInvocationResult:
        settings = self._settings
        budget = (
            settings.runtime_test_load_timeout_seconds
            + settings.runtime_timeout_ms / 1000
            + KILL_MARGIN_SECONDS
        )
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *self._command, "once", "--config", str(config_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env,
            start_new_session=True,
            preexec_fn=functools.partial(child_setup, os.getpid()),
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin.encode()), budget)
        except TimeoutError:
            return _failed(
                "FUNCTION_TIMEOUT",
                f"the sandbox did not finish within {budget:.0f} s and was stopped",
                started=started,
            )
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever the host left behind
            await process.wait()
        lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            with contextlib.suppress(ValueError):
                return TestInvocationResult.model_validate_json(lines[-1])
        stderr = err.decode("utf-8", "replace")[-OUTPUT_TAIL:]
        assert process.returncode is not None
        return _failed(
            "FUNCTION_ERROR",
            f"the sandbox ended without a result ({describe_exit(process.returncode)})",
            started=started,
            stderr=stderr,
        )


def _failed(
    code: FunctionErrorCode, message: str, *, started: float, stderr: str = ""
) -> TestInvocationResult:
    status = 504 if code == "FUNCTION_TIMEOUT" else 500
    return TestInvocationResult(
        status=status,
        headers={},
        body="",
        body_encoding="utf-8",
        stdout="",
        stderr=stderr,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        error_code=code,
        error_message=message,
    )

"""Replica sets: write each host's config, start the hosts, wait until ready, retire them.

A version's first start is staggered: one host compiles the component into the shared
cache while the others wait, then they load the compiled copy (two compiles at once would
share two cores and delay the first answer). A retired replica first gets no new requests
(the gateway skips draining replicas), its in-flight requests finish, then its host stops.
"""

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import infra_service
from infra_service.config import Settings
from infra_service.runtime.logs import AppLog
from infra_service.runtime.store import AppKey, AppSpec, RuntimeStore, write_atomically
from infra_service.runtime.supervisor import Replica, poll_until

START_ATTEMPTS = 2  # exits before ready, per replica, after which a deploy gives up early
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME", "VIRTUAL_ENV")


def _append(app_log: AppLog, replica_id: str, entry: dict[str, Any]) -> None:
    app_log.append(**({"replica": replica_id} | entry))


class NotReady(Exception):
    """No replica became ready; the message is the hosts' own reasons."""


def host_command(settings: Settings) -> list[str]:
    return settings.runtime_host_command or [sys.executable, "-m", "infra_service.runtime.host"]


def host_environment() -> dict[str, str]:
    """What a host process sees: no credentials or tokens of the service, only what it needs."""
    infra_root = Path(infra_service.__file__).resolve().parent.parent
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(infra_root), str(infra_root.parent)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def host_limits(settings: Settings) -> dict[str, int]:
    return {
        "timeout_ms": settings.runtime_timeout_ms,
        "memory_bytes": settings.runtime_memory_bytes,
        "max_request_bytes": settings.runtime_max_request_bytes,
        "max_response_bytes": settings.runtime_max_response_bytes,
        "concurrency": settings.runtime_concurrency,
    }


def host_config(
    *,
    settings: Settings,
    store: RuntimeStore,
    key: AppKey,
    replica_id: str,
    component: Path,
    wasm_digest: str,
    locked_app: dict[str, Any],
    variables: dict[str, str],
    kv_dir: Path,
) -> dict[str, Any]:
    """The replica.json a host reads (the interface of runtime/host.py)."""
    return {
        "app": {"namespace": key.namespace, "name": key.name},
        "replica": replica_id,
        "component": str(component),
        "component_sha256": wasm_digest.removeprefix("sha256:"),
        "compiled_cache_dir": str(store.compiled),
        "locked_app": locked_app,
        "variables": variables,
        "kv_dir": str(kv_dir),
        "listen": {"host": "127.0.0.1", "port": 0},
        "limits": host_limits(settings),
    }


class Launcher:
    """Creates, starts, waits for and retires replicas."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: RuntimeStore,
        http: httpx.AsyncClient,
        app_log: Callable[[AppKey], AppLog],
    ) -> None:
        self._settings = settings
        self._store = store
        self._http = http
        self._app_log = app_log
        self._command = host_command(settings)
        self._env = host_environment()
        self._compiled: set[str] = set()  # components a host of this process has loaded
        self._pending: set[asyncio.Task[None]] = set()

    def create(self, spec: AppSpec, indexes: range) -> list[Replica]:
        """Replicas of the spec's version (configs written, not started)."""
        folder = self._store.replicas_dir(spec.key)
        folder.mkdir(parents=True, exist_ok=True)
        app_log = self._app_log(spec.key)
        replicas = []
        for index in indexes:
            replica_id = f"g{spec.generation}-r{index}"
            config = host_config(
                settings=self._settings,
                store=self._store,
                key=spec.key,
                replica_id=replica_id,
                component=self._store.blob_path(spec.wasm_digest),
                wasm_digest=spec.wasm_digest,
                locked_app=spec.locked_app,
                variables=spec.variables,
                kv_dir=self._store.kv_dir(spec.key),
            )
            path = folder / f"{replica_id}.json"
            write_atomically(path, json.dumps(config).encode())
            os.chmod(path, 0o600)  # variable values may be secrets
            replicas.append(
                Replica(
                    key=spec.key,
                    replica_id=replica_id,
                    config_path=path,
                    command=self._command,
                    env=self._env,
                    http=self._http,
                    on_log=functools.partial(_append, app_log, replica_id),
                    backoff=(
                        self._settings.runtime_restart_backoff_seconds,
                        self._settings.runtime_restart_backoff_max_seconds,
                    ),
                    health_interval=self._settings.runtime_health_interval_seconds,
                )
            )
        return replicas

    def start(self, replicas: list[Replica], *, wasm_digest: str) -> None:
        """Start the hosts: all at once when the component is compiled, else one first."""
        if not replicas:
            return
        if wasm_digest in self._compiled or len(replicas) == 1:
            for replica in replicas:
                replica.start()
        else:
            replicas[0].start()
            task = asyncio.create_task(self._start_after_first(replicas, wasm_digest))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        self._watch_compiled(replicas[0], wasm_digest)

    async def wait_ready(self, replicas: list[Replica], *, want: int, deadline: float) -> int:
        """How many are ready once `want` are, or at the deadline (≥ 1); NotReady else."""
        while True:
            ready = sum(replica.ready for replica in replicas)
            if ready >= want:
                return ready
            given_up = all(r.exits_before_ready >= START_ATTEMPTS for r in replicas)
            if given_up or time.monotonic() >= deadline:
                if ready:
                    return ready
                raise NotReady("; ".join(replica.failure_reason() for replica in replicas))
            await asyncio.sleep(0.02)

    async def retire(self, replicas: list[Replica], *, drain: float | None = None) -> None:
        """Stop sending them requests, let in-flight ones finish, stop the hosts."""
        for replica in replicas:
            replica.draining = True
        drain_until = time.monotonic() + (
            self._settings.runtime_drain_seconds if drain is None else drain
        )
        await poll_until(
            lambda: not any(r.in_flight for r in replicas), every=0.02, deadline=drain_until
        )
        await asyncio.gather(*(replica.stop(grace=10.0) for replica in replicas))

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def _start_after_first(self, replicas: list[Replica], wasm_digest: str) -> None:
        first = replicas[0]
        await poll_until(
            lambda: bool(first.ready or first.exits_before_ready or first.stopping), every=0.02
        )
        for replica in replicas[1:]:
            if not replica.stopping:
                replica.start()

    def _watch_compiled(self, replica: Replica, wasm_digest: str) -> None:
        async def watch() -> None:
            await poll_until(lambda: replica.ready or replica.stopping, every=0.1)
            if replica.ready:
                self._compiled.add(wasm_digest)

        if wasm_digest not in self._compiled:
            task = asyncio.create_task(watch())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

"""The local deploy target: a SpinApp manifest → verified component → supervised replicas.

Deploy does what SpinKube would: read the SpinApp (image, replicas, variables), pull the
image by digest, run `replicas` hosts of the locked app's component. A new version starts
beside the old one; the gateway switches once the new replicas are ready, and the old ones
drain and stop, so no request fails. The same component, locked app and variables again
only changes the replica count (nothing restarts). The desired state is stored before the
switch, and every stored app is started again when the service starts.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import httpx

from contract.runtime import (
    DeploymentState,
    NamespaceDeleteResult,
    RuntimeLogPage,
    UndeployResult,
)
from infra_service.config import Settings
from infra_service.errors import DeploymentNotFound
from infra_service.jobs import Job, JobFailure, now_iso
from infra_service.push import CredentialSource
from infra_service.runtime.gateway import AppRoute, Gateway, GatewayLimits
from infra_service.runtime.logs import AppLog
from infra_service.runtime.registry_pull import Puller
from infra_service.runtime.replicas import Launcher, NotReady
from infra_service.runtime.spinapp import Wanted, wanted_from_manifest
from infra_service.runtime.store import AppKey, AppSpec, RuntimeStore, version_of
from infra_service.runtime.supervisor import Replica, reap_leftovers
from infra_service.tenancy import DeletedNamespaces

log = logging.getLogger(__name__)
SPARE_COMPONENTS = 5  # unused components kept for quick rollbacks


class LocalTarget:
    """Deploys, undeploys and reports apps running on this machine."""

    name = "local"

    def __init__(
        self, *, settings: Settings, http: httpx.AsyncClient, credentials: CredentialSource
    ) -> None:
        self._settings = settings
        self.store = RuntimeStore(settings.runtime_root, compiled=settings.runtime_compiled_root)
        self._routes: dict[AppKey, AppRoute] = {}
        self._specs: dict[AppKey, AppSpec] = {}
        self._locks: defaultdict[AppKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._logs: dict[AppKey, AppLog] = {}
        self._next_index: defaultdict[AppKey, int] = defaultdict(int)
        self._deploying: dict[AppKey, int] = {}  # replicas of deploys in progress
        self._background: set[asyncio.Task[None]] = set()
        self._deleted = DeletedNamespaces()
        # Plain HTTP to hosts on 127.0.0.1 only: no proxies, and no CA bundle to load.
        self._probe_http = httpx.AsyncClient(trust_env=False, verify=False)
        self._launcher = Launcher(
            settings=settings, store=self.store, http=self._probe_http, app_log=self.app_log
        )
        self._puller = Puller(
            settings=settings, http=http, credentials=credentials, store=self.store
        )
        self.gateway = Gateway(
            routes=self._routes,
            limits=GatewayLimits(
                max_request_bytes=settings.runtime_max_request_bytes,
                max_response_bytes=settings.runtime_max_response_bytes,
                timeout_seconds=settings.runtime_timeout_ms / 1000 + 10,
                wait_ready_seconds=settings.gateway_wait_ready_seconds,
            ),
            host=settings.gateway_host,
            port=settings.gateway_port,
        )

    def runtime_counts(self) -> tuple[int, int]:
        """(apps deployed, replicas serving) — for the metrics."""
        return len(self._routes), sum(len(route.active) for route in self._routes.values())

    def app_log(self, key: AppKey) -> AppLog:
        if key not in self._logs:
            self._logs[key] = AppLog(
                self.store.logs_dir(key), max_bytes=self._settings.runtime_log_max_bytes
            )
        return self._logs[key]

    async def start(self) -> None:
        """Listen, then bring back every stored app (without waiting for them)."""
        await self.gateway.start()
        for spec in self.store.load_all():
            killed = reap_leftovers(self.store.replicas_dir(spec.key))
            if killed:
                log.warning("killed %d host(s) of %s left by a previous run", killed, spec.key)
            self._specs[spec.key] = spec
            route = self._routes[spec.key] = AppRoute(spec.key, spec.replicas)
            self._in_background(self._resume(spec, route))
        log.info("local runtime: %d app(s) restored from %s", len(self._specs), self.store.root)

    async def stop(self) -> None:
        """Stop taking requests, then stop every host."""
        await self.gateway.stop()
        await self._launcher.close()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        replicas = [r for route in self._routes.values() for r in route.active]
        await self._launcher.retire(replicas, drain=0)
        for app_log in self._logs.values():
            app_log.close()
        await self._probe_http.aclose()

    def check(self, request: dict[str, Any]) -> None:
        wanted_from_manifest(
            request["manifest"],
            namespace=request["namespace"],
            max_replicas=self._settings.runtime_max_replicas,
        )

    async def run(self, job: Job) -> dict[str, Any]:
        """Deploy the SpinApp; succeeds once a replica answers (or at once for 0 replicas)."""
        wanted = wanted_from_manifest(
            job.request["manifest"],
            namespace=job.request["namespace"],
            max_replicas=self._settings.runtime_max_replicas,
        )
        key = wanted.key
        async with self._locks[key]:
            self._deleted.refuse(key.namespace)  # under the lock: delete_namespace waits on it
            self._check_capacity(wanted)
            self._deploying[key] = wanted.replicas
            try:
                return await self._deploy(wanted)
            finally:
                self._deploying.pop(key, None)

    async def _deploy(self, wanted: Wanted) -> dict[str, Any]:
        """Pull, then scale the running version or replace it by the new one."""
        key = wanted.key
        pulled = await self._puller.pull(wanted.image)
        version = version_of(
            wasm_digest=pulled.wasm_digest,
            locked_app=pulled.locked_app,
            variables=wanted.variables,
        )
        current = self._specs.get(key)
        same = current is not None and current.version == version
        generation = current.generation + (0 if same else 1) if current else 1
        spec = AppSpec(
            namespace=key.namespace,
            name=key.name,
            image=wanted.image,
            image_digest=pulled.image_digest,
            wasm_digest=pulled.wasm_digest,
            wasm_size=pulled.wasm_size,
            locked_app=pulled.locked_app,
            variables=wanted.variables,
            replicas=wanted.replicas,
            version=version,
            generation=generation,
            updated_at=now_iso(),
        )
        ready = await (self._scale(spec) if same else self._replace(spec))
        self.store.collect_blobs(
            keep={s.wasm_digest for s in self._specs.values()}, spare=SPARE_COMPONENTS
        )
        return {
            "namespace": key.namespace,
            "name": key.name,
            "ready_replicas": ready,
            "endpoint": self.gateway.endpoint(key),
            "applied": wanted.kinds,
            "target": self.name,
        }

    async def state(self, key: AppKey) -> DeploymentState:
        spec = self._specs.get(key)
        if spec is None:
            raise DeploymentNotFound(f"Nothing is deployed as {key} on the local target.")
        route = self._routes.get(key)
        return DeploymentState(
            namespace=key.namespace,
            name=key.name,
            target="local",
            image=spec.image,
            replicas=spec.replicas,
            ready_replicas=sum(r.ready for r in route.active) if route else 0,
            endpoint=self.gateway.endpoint(key),
            updated_at=spec.updated_at,
        )

    async def undeploy(self, key: AppKey) -> UndeployResult:
        """Stop every replica, forget the app: desired state, key-value data, logs."""
        async with self._locks[key]:
            route = self._routes.pop(key, None)
            known = self._specs.pop(key, None) is not None or route is not None
            if route is not None:
                await self._launcher.retire(route.active)
            app_log = self._logs.pop(key, None)
            if app_log is not None:
                app_log.close()
            deleted = self.store.forget(key) or known
            self.store.collect_blobs(
                keep={s.wasm_digest for s in self._specs.values()}, spare=SPARE_COMPONENTS
            )
        return UndeployResult(namespace=key.namespace, name=key.name, deleted=deleted)

    async def delete_namespace(self, namespace: str) -> NamespaceDeleteResult:
        """Undeploy every app of the namespace (a workspace's): stopped and forgotten."""
        self._deleted.add(namespace)  # first: a deploy that has not taken its lock yet fails
        known = [*self._specs, *self._routes, *self._deploying]
        keys = {key for key in known if key.namespace == namespace}
        keys |= {spec.key for spec in self.store.load_all() if spec.namespace == namespace}
        results = [await self.undeploy(key) for key in sorted(keys)]
        return NamespaceDeleteResult(
            namespace=namespace, deleted=any(result.deleted for result in results)
        )

    async def logs(
        self, key: AppKey, *, since: str | None, limit: int, tail: int | None
    ) -> RuntimeLogPage:
        if key not in self._specs:
            raise DeploymentNotFound(f"Nothing is deployed as {key} on the local target.")
        app_log = self.app_log(key)
        return await asyncio.to_thread(app_log.read, since=since, limit=limit, tail=tail)

    def _check_capacity(self, wanted: Wanted) -> None:
        """Apps and replicas, counting other deploys in progress (each holds only its own lock)."""
        counts = {k: s.replicas for k, s in self._specs.items()}
        for k, replicas in self._deploying.items():
            counts[k] = max(counts.get(k, 0), replicas)
        counts.pop(wanted.key, None)
        if len(counts) + 1 > self._settings.runtime_max_apps:
            raise JobFailure(
                "RUNTIME_CAPACITY",
                f"the local runtime already runs {len(counts)} apps "
                f"(INFRA_RUNTIME_MAX_APPS={self._settings.runtime_max_apps}).",
            )
        used = sum(counts.values())
        if used + wanted.replicas > self._settings.runtime_max_replicas:
            raise JobFailure(
                "RUNTIME_CAPACITY",
                f"{wanted.replicas} more replicas would exceed the machine's "
                f"{self._settings.runtime_max_replicas} (INFRA_RUNTIME_MAX_REPLICAS); "
                f"{used} run for other apps.",
            )

    def _new_replicas(self, spec: AppSpec, count: int) -> list[Replica]:
        first = self._next_index[spec.key]
        self._next_index[spec.key] = first + count
        return self._launcher.create(spec, range(first, first + count))

    async def _scale(self, spec: AppSpec) -> int:
        """The same version with another replica count: add or retire hosts, restart none."""
        route = self._routes.setdefault(spec.key, AppRoute(spec.key, spec.replicas))
        running = [r for r in route.active if not r.draining]
        if spec.replicas > len(running):
            added = self._new_replicas(spec, spec.replicas - len(running))
            self._launcher.start(added, wasm_digest=spec.wasm_digest)
            running += added
        surplus, running = running[spec.replicas :], running[: spec.replicas]
        self._commit(spec, route, running)
        if surplus:
            self._in_background(self._launcher.retire(surplus))
        if not running:
            return 0
        return await self._ready(spec, running, want=1)

    async def _replace(self, spec: AppSpec) -> int:
        """A new version: start it beside the old one, switch when ready, retire the old one."""
        route = self._routes.get(spec.key)
        old = list(route.active) if route else []
        if spec.replicas == 0:
            self._commit(spec, route or AppRoute(spec.key, 0), [])
            self._in_background(self._launcher.retire(old))
            return 0
        new = self._new_replicas(spec, spec.replicas)
        self._launcher.start(new, wasm_digest=spec.wasm_digest)
        first_deploy = route is None
        if first_deploy:  # nothing to keep serving: route to the new hosts as they come up
            route = self._routes[spec.key] = AppRoute(spec.key, spec.replicas, active=new)
        try:
            ready = await self._ready(spec, new, want=1 if first_deploy else len(new))
        except JobFailure:
            if first_deploy:
                self._routes.pop(spec.key, None)
            await self._launcher.retire(new, drain=0)
            raise
        assert route is not None
        self._commit(spec, route, new)
        self._in_background(self._launcher.retire(old))
        return ready

    async def _ready(self, spec: AppSpec, replicas: list[Replica], *, want: int) -> int:
        timeout = self._settings.deploy_ready_timeout_seconds
        try:
            return await self._launcher.wait_ready(
                replicas, want=want, deadline=time.monotonic() + timeout
            )
        except NotReady as exc:
            raise JobFailure(
                "DEPLOY_NOT_READY",
                f"{spec.key}: no replica answered its health route within {timeout:.0f} s: {exc}",
            ) from exc

    def _commit(self, spec: AppSpec, route: AppRoute, active: list[Replica]) -> None:
        """Store the desired state, then route to `active` (in that order: a crash between
        the two brings the new version back)."""
        self.store.save(spec)
        self._specs[spec.key] = spec
        route.active, route.replicas = active, spec.replicas
        self._routes[spec.key] = route

    async def _resume(self, spec: AppSpec, route: AppRoute) -> None:
        """Start a stored app again (its component pulled again if it went missing)."""
        if not self.store.has_blob(spec.wasm_digest):
            try:
                await self._puller.pull(spec.image)
            except JobFailure as failure:
                log.error("cannot restore %s: %s", spec.key, failure.message)
                return
        if spec.replicas:
            replicas = self._new_replicas(spec, spec.replicas)
            route.active = replicas
            self._launcher.start(replicas, wasm_digest=spec.wasm_digest)

    def _in_background(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if (exc := task.exception()) is not None:
            log.error("local runtime background task failed", exc_info=exc)

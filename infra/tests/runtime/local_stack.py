"""The infrastructure service with its local deploy target, for the runtime's tests.

The real service (lifespan entered, gateway on a real port), moto for S3 and Debian's
docker-registry; components are pushed by the service's own push and scaffold jobs, so a
deploy pulls exactly what the pipeline produces. Hosts are `fake_host.py` unless a test
passes another host command (the e2e module runs the real one).
"""

import hashlib
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from conftest import AUTH, BUCKET, make_settings, run_job
from infra_service.config import Settings
from infra_service.main import create_app
from testing.infra_service import Registry

FAKE_HOST = Path(__file__).with_name("fake_host.py")


def fake_component(**behaviour: Any) -> bytes:
    """The "component" fake_host.py runs: a JSON document saying what to do."""
    return json.dumps(behaviour, sort_keys=True).encode()


def runtime_settings(
    aws_endpoint: str, scratch: Path, registry: Registry, **overrides: Any
) -> Settings:
    """Short deadlines and backoffs; the fake host unless a host command is given."""
    values: dict[str, Any] = {
        "registry_url": registry.host,
        "registry_insecure": True,
        "runtime_host_command": [sys.executable, str(FAKE_HOST)],
        "deploy_ready_timeout_seconds": 15,
        "runtime_restart_backoff_seconds": 0.1,
        "runtime_drain_seconds": 5,
        "runtime_health_interval_seconds": 0.5,
    }
    values.update(overrides)
    return make_settings(aws_endpoint, scratch, **values)


@dataclass
class Service:
    """An authenticated client of the running service, and what it needs to push."""

    api: httpx.AsyncClient
    settings: Settings
    s3: Any

    async def push(
        self, component: bytes, *, app: str, task: str, variables: list[str] | None = None
    ) -> str:
        """Put the component where a build would, push it; its image_url (with the digest)."""
        key = f"build-artifacts/{task}/{app}.wasm"
        sha = hashlib.sha256(component).hexdigest()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=component, Metadata={"sha256": sha})
        body = {
            "job_key": f"{task}:push",
            "wasm_path": f"s3://{BUCKET}/{key}",
            "app_name": app,
            "repository": "faas-functions",
            "tag": task,
            "variables": variables or [],
        }
        job = await run_job(self.api, "pushes", body)
        assert job["status"] == "succeeded", job["error"]
        image_url: str = job["result"]["image_url"]
        return image_url

    async def manifest(
        self,
        image_url: str,
        *,
        app: str,
        task: str,
        replicas: int = 1,
        variables: dict[str, str] | None = None,
    ) -> str:
        """The SpinApp the scaffold step writes (0 replicas written over its minimum of 1)."""
        body = {
            "job_key": f"{task}:scaffold",
            "image_url": image_url,
            "app_name": app,
            "replicas": max(replicas, 1),
            "variables": variables or {},
        }
        job = await run_job(self.api, "scaffolds", body)
        assert job["status"] == "succeeded", job["error"]
        manifest: str = job["result"]["manifest"]
        return manifest.replace("replicas: 1\n", f"replicas: {replicas}\n")

    async def deploy(
        self, manifest: str, *, key: str, namespace: str = "faas", timeout: float = 30
    ) -> dict[str, Any]:
        body = {"job_key": key, "namespace": namespace, "manifest": manifest}
        return await run_job(self.api, "deployments", body, timeout=timeout)

    async def ship(
        self,
        component: bytes,
        *,
        app: str,
        task: str,
        namespace: str = "faas",
        replicas: int = 1,
        variables: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Push, scaffold and deploy; the deploy job."""
        image = await self.push(component, app=app, task=task, variables=list(variables or {}))
        manifest = await self.manifest(
            image, app=app, task=task, replicas=replicas, variables=variables
        )
        return await self.deploy(manifest, key=f"{task}:deploy", namespace=namespace)


@asynccontextmanager
async def running_service(settings: Settings, s3: Any) -> AsyncIterator[Service]:
    """The app with its lifespan (and so its gateway and hosts) running."""
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as api,
    ):
        yield Service(api=api, settings=settings, s3=s3)

"""Start the real infrastructure service (and a local OCI registry) for tests, on free ports.

    with running_registry() as registry:                       # Debian's docker-registry
        with running_infra_service(aws_endpoint=moto_url, registry=registry) as infra:
            ...  # point BUILD/PUSH/SCAFFOLD/DEPLOY_SERVICE_URL at infra.url, token infra.token

`running_infra_service` runs the app in-process (uvicorn in a thread) by default, or as
`python -m infra_service` with `subprocess=True`. The bucket must exist before builds run.

When FAAS_TEST_CACHE_DIR names a folder (the root conftest.py sets one per session), every
service started here shares its node-local build cache (`<dir>/builds`) and compiled-component
cache (`<dir>/compiled`), as services on one node may in production: the same source builds
once per session, each component compiles once. A test that asserts a cache miss or a cold
compile passes `shared_caches=False`.
"""

import asyncio
import os
import shutil
import subprocess as sp
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testing.moto import FAKE_CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKEN = "test-infra-token"
SHARED_CACHE_ENV = "FAAS_TEST_CACHE_DIR"

_REGISTRY_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass(frozen=True)
class Registry:
    host: str  # "127.0.0.1:PORT", as in image references
    root: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@dataclass(frozen=True)
class InfraService:
    url: str
    token: str
    settings: dict[str, str]  # the INFRA_* environment it runs with

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _wait_http(url: str, *, timeout: float, process: sp.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url} within {timeout:.0f} s")


@contextmanager
def running_registry() -> Iterator[Registry]:
    """Debian's CNCF distribution registry on 127.0.0.1:<free port>, storage in a temp dir."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    with tempfile.TemporaryDirectory(prefix="registry-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = root / "config.yml"
        config.write_text(_REGISTRY_CONFIG.format(root=root / "data", port=port))
        process = sp.Popen(
            [binary, "serve", str(config)],
            stdout=sp.DEVNULL,
            stderr=sp.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/v2/", timeout=20, process=process)
            yield Registry(host=f"127.0.0.1:{port}", root=root / "data")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except sp.TimeoutExpired:
                process.kill()
                process.wait()


def infra_environment(
    *,
    aws_endpoint: str,
    token: str = DEFAULT_TOKEN,
    registry: Registry | None = None,
    port: int | None = None,
    scratch_dir: Path | None = None,
    shared_caches: bool = True,
    **settings: Any,
) -> dict[str, str]:
    """INFRA_* variables for a local service: moto, a plain-http registry, loopback only."""
    env = {
        "INFRA_APP_ENV": "test",
        "INFRA_HOST": "127.0.0.1",
        "INFRA_PORT": str(port or free_port()),
        "INFRA_SERVICE_TOKEN": token,
        "INFRA_AWS_ENDPOINT_URL": aws_endpoint,
        "INFRA_AWS_REGION": FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        "INFRA_AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "INFRA_AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # The local deploy target's gateway (the endpoints of deployed functions).
        "INFRA_GATEWAY_PORT": str(free_port()),
    }
    if registry is not None:
        env |= {"INFRA_REGISTRY_URL": registry.host, "INFRA_REGISTRY_INSECURE": "true"}
    if scratch_dir is not None:
        env["INFRA_SCRATCH_DIR"] = str(scratch_dir)
    if shared_caches:
        env |= shared_cache_settings()
    env |= {f"INFRA_{name.upper()}": str(value) for name, value in settings.items()}
    return env


def shared_cache_settings() -> dict[str, str]:
    """The session's shared build and compiled caches (FAAS_TEST_CACHE_DIR), if one is set."""
    root = os.environ.get(SHARED_CACHE_ENV)
    if not root:
        return {}
    return {
        "INFRA_BUILD_CACHE_DIR": str(Path(root) / "builds"),
        "INFRA_RUNTIME_COMPILED_DIR": str(Path(root) / "compiled"),
    }


@contextmanager
def running_infra_service(
    *,
    aws_endpoint: str,
    token: str = DEFAULT_TOKEN,
    registry: Registry | None = None,
    subprocess: bool = False,
    shared_caches: bool = True,
    **settings: Any,
) -> Iterator[InfraService]:
    """The real service on 127.0.0.1:<free port>; extra keyword arguments are INFRA_* settings."""
    with tempfile.TemporaryDirectory(prefix="infra-scratch-") as scratch:
        settings.setdefault("scratch_dir", Path(scratch))
        env = infra_environment(
            aws_endpoint=aws_endpoint,
            token=token,
            registry=registry,
            shared_caches=shared_caches,
            **settings,
        )
        url = f"http://127.0.0.1:{env['INFRA_PORT']}"
        runner = _in_subprocess if subprocess else _in_thread
        with runner(env, url):
            yield InfraService(url=url, token=token, settings=env)


@contextmanager
def _in_subprocess(env: dict[str, str], url: str) -> Iterator[None]:
    process = subprocess_popen(env)
    try:
        _wait_http(f"{url}/health", timeout=60, process=process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except sp.TimeoutExpired:
            process.kill()
            process.wait()


def subprocess_popen(env: dict[str, str]) -> sp.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INFRA_")} | env
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "infra"), str(ROOT)])
    return sp.Popen(
        [sys.executable, "-m", "infra_service"],
        cwd=ROOT / "infra",
        env=full_env,
        start_new_session=True,
    )


@contextmanager
def _in_thread(env: dict[str, str], url: str) -> Iterator[None]:
    import uvicorn

    from infra_service.config import Settings
    from infra_service.main import create_app

    values = {key.removeprefix("INFRA_").lower(): value for key, value in env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        _wait_http(f"{url}/health", timeout=60)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)

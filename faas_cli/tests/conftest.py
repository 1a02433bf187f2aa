"""The CLI against a real backend over HTTP, with the fake infrastructure service.

The backend is the real app (lifespan, pollers) served by uvicorn on 127.0.0.1 in a thread, so
the CLI's own httpx client talks to it exactly as it would to a deployment; DynamoDB and S3
are moto in server mode, as everywhere else. The fake stands in for the four infrastructure
services (testing/fake_infra.py).
"""

import asyncio
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from app.bootstrap import ensure_resources
from app.config import Settings
from app.main import create_app
from faas_cli.main import app as cli_app
from testing.fake_infra import FakeInfraService
from tests.conftest import make_settings
from tests.tasks.conftest import TOKEN, pipeline_settings

ADMIN_KEY = "admin-key-for-cli-tests-0123456789abcdef"
FAAS_ENV = ("FAAS_URL", "FAAS_API_KEY", "FAAS_TOKEN", "FAAS_WORKSPACE", "FAAS_OUTPUT")


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The backend on 127.0.0.1:<free port> until the block ends; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the backend did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass
class Backend:
    url: str
    settings: Settings
    infra: FakeInfraService

    def s3_object(self, s3_path: str) -> bytes:
        """An object the backend stored (read directly, to check what the CLI uploaded)."""
        bucket, key = s3_path.removeprefix("s3://").split("/", 1)
        client = boto3.client(
            "s3",
            endpoint_url=self.settings.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass
class Cli:
    """Runs `faas` in-process (Typer's runner) with its own config dir and environment."""

    config_home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.config_home / "faas" / "config.toml"

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        environment = {name: None for name in FAAS_ENV} | {"COLUMNS": "200"}
        environment |= {"XDG_CONFIG_HOME": str(self.config_home)} | self.env | (env or {})
        runner = CliRunner()
        return runner.invoke(
            cli_app, list(args), env=environment, input=input, catch_exceptions=False
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run and insist on exit code 0."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result


def faas_command() -> list[str]:
    """The installed console script (`pip install -e .` puts it next to the interpreter)."""
    script = Path(sys.executable).with_name("faas")
    assert script.exists(), f"{script} is missing: run `make venv` (it runs pip install -e .)"
    return [str(script)]


def subprocess_env(cli: Cli, **extra: str) -> dict[str, str]:
    """The environment for `faas` run as a subprocess with the same config as `cli`."""
    env = {k: v for k, v in os.environ.items() if k not in FAAS_ENV}
    return env | {"XDG_CONFIG_HOME": str(cli.config_home), "COLUMNS": "200"} | cli.env | extra


@pytest.fixture
def fake_infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN) as infra:
        yield infra


def _backend(aws_endpoint: str, infra: FakeInfraService, **overrides: object) -> Iterator[Backend]:
    settings = pipeline_settings(make_settings(aws_endpoint), infra.url, **overrides)
    ensure_resources(settings)
    with serving(settings) as url:
        yield Backend(url=url, settings=settings, infra=infra)


@pytest.fixture
def backend(aws_endpoint: str, fake_infra: FakeInfraService) -> Iterator[Backend]:
    """A backend in development auth mode (no token needed)."""
    yield from _backend(aws_endpoint, fake_infra)


@pytest.fixture
def secured_backend(aws_endpoint: str, fake_infra: FakeInfraService) -> Iterator[Backend]:
    """A backend in API-key mode: the admin key or a workspace's keys only."""
    yield from _backend(aws_endpoint, fake_infra, auth_mode="api-key", admin_api_key=ADMIN_KEY)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`faas` with an empty config dir, run from an empty working folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return Cli(config_home=tmp_path / "config")


@pytest.fixture
def api_cli(cli: Cli, backend: Backend) -> Cli:
    """`faas` pointed at `backend` (FAAS_URL) with a current workspace."""
    cli.env["FAAS_URL"] = backend.url
    cli.ok("workspace", "create", "team")
    return cli


def json_of(result: Result) -> Any:
    """The JSON a command printed on stdout (nothing else may be there)."""
    return json.loads(result.stdout)


def error_of(result: Result) -> dict[str, Any]:
    """The error a command printed on stderr in JSON mode."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, result.stderr
    error: dict[str, Any] = json.loads(lines[-1])["error"]
    return error

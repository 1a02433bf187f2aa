"""Browser tests of the console: Debian's Chromium driven by Playwright, against a real backend.

The backend is the real app served by uvicorn on a free 127.0.0.1 port (its lifespan and
pollers running), with moto in server mode for AWS and the fake infrastructure service over
HTTP (testing/fake_infra.py) for the services this project does not run here. Chromium is
the Debian package (/usr/bin/chromium, installed by `make system-deps`); Playwright never
downloads a browser. Screenshots land in test-artifacts/console/.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.types import ASGIApp

from app.config import Settings
from app.console import STATIC_DIR
from app.main import create_app
from testing.fake_infra import FakeInfraService
from tests.tasks.conftest import TOKEN, pipeline_settings

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = os.environ.get("CONSOLE_TEST_CHROMIUM", "/usr/bin/chromium")
# The flags the machine needs: no sandbox as root, and no background calls to Google's hosts
# (the network is closed; Chromium would retry them at every start).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def console_assets() -> Path:
    """The built console, (re)built by `make console` when missing or older than its sources."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to build the console (Node.js 20 with npm)")
    subprocess.run(["make", "-s", "console"], cwd=ROOT, check=True)
    assert (STATIC_DIR / "index.html").is_file()
    return STATIC_DIR


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would break every async test that runs after this package.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One Chromium for these tests, with a fresh profile folder (Playwright makes it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A new browser context per test: no cookies, storage or cache from another test."""
    context = chromium.new_context(viewport=LAPTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture
def logging_infra(settings: Settings) -> Iterator[FakeInfraService]:
    """The fake services; jobs name a build log in the backend's bucket (written by `write_log`)."""
    template = f"s3://{settings.s3_bucket}/build-logs/{{job_key}}/build.log"
    with FakeInfraService(token=TOKEN, log_path=template) as infra:
        yield infra


@dataclass
class LiveBackend:
    url: str
    settings: Settings
    infra: FakeInfraService

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def console(self, fragment: str = "") -> str:
        return f"{self.url}/console/{fragment}"

    def write_build_log(self, text: str, *, timeout: float = 20.0) -> str:
        """Once the build job is submitted, write its log where the job says it is (as the
        real build service does while it runs); returns the task id."""
        deadline = time.monotonic() + timeout
        while not self.infra.submissions("build"):
            if time.monotonic() > deadline:
                raise AssertionError("no build job was submitted")
            time.sleep(0.02)
        job_key = self.infra.submissions("build")[-1]["job_key"]
        boto3.client(
            "s3",
            endpoint_url=self.settings.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).put_object(
            Bucket=self.settings.s3_bucket,
            Key=f"build-logs/{job_key}/build.log",
            Body=text.encode(),
        )
        return job_key.split(":")[0]


@contextmanager
def serve(settings: Settings | None = None, *, app: ASGIApp | None = None) -> Iterator[str]:
    """The backend for `settings` (or `app`) under uvicorn on a free loopback port, in a
    thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
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


@pytest.fixture
def backend_settings(settings: Settings, logging_infra: FakeInfraService) -> Settings:
    return pipeline_settings(settings, logging_infra.url)


@pytest.fixture
def live(
    console_assets: Path, backend_settings: Settings, logging_infra: FakeInfraService
) -> Iterator[LiveBackend]:
    with serve(backend_settings) as url:
        yield LiveBackend(url=url, settings=backend_settings, infra=logging_infra)


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

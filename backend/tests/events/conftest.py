"""The backend under uvicorn (its lifespan, pollers and change feed running) with the fake
infrastructure service, and a small SSE reader for the tests of the event streams."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from testing.fake_infra import FakeInfraService
from testing.live_server import serving
from tests.tasks.conftest import HELLO, pipeline_settings


def events_settings(settings: Settings, infra_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "events_poll_seconds": 0.05,
        "events_log_poll_seconds": 0.1,
        "events_idle_seconds": 1.0,
        **overrides,
    }
    return pipeline_settings(settings, infra_url, **values)


@dataclass
class Event:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Reader:
    """Reads one text/event-stream response frame by frame."""

    response: httpx.Response
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next(self) -> Event | None:
        """The next event; None when the server closed the stream."""
        fields: dict[str, str] = {}
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data or fields:
                    return Event(fields.get("id"), fields.get("event", "message"), "\n".join(data))
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        return None

    async def comments_until(self, count: int) -> None:
        """Read on until `count` comment lines have been seen."""
        async for line in self._lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                if len(self.comments) >= count:
                    return

    async def all(self) -> list[Event]:
        events = []
        while (event := await self.next()) is not None:
            events.append(event)
        return events


# Jobs report a build log in the backend's bucket (a test writes it there when it needs one).
LOG_PATH = "s3://sfbank-blue-functions-code-bucket/build-logs/{job_key}/build.log"


@pytest.fixture
def infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token="test-infra-token", log_path=LOG_PATH) as fake:
        yield fake


@pytest.fixture
def live_settings(settings: Settings, infra: FakeInfraService) -> Settings:
    return events_settings(settings, infra.url)


@pytest.fixture
async def live(live_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the backend served over real HTTP."""
    with serving(create_app(live_settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            yield client


async def start_build(client: httpx.AsyncClient, *, headers: dict[str, str] | None = None) -> dict:
    workspace = (await client.post("/api/workspaces", json={"name": "w"}, headers=headers)).json()
    response = await client.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "hello"},
        files={"file": ("app.py", HELLO)},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    return response.json()


async def build_job_key(infra: FakeInfraService, *, timeout: float = 10.0) -> str:
    """The job_key of the latest build job, once one was submitted."""
    async with asyncio.timeout(timeout):
        while not infra.submissions("build"):  # noqa: ASYNC110 (another thread submits)
            await asyncio.sleep(0.02)
    return str(infra.submissions("build")[-1]["job_key"])

"""A real build (componentize-py) watched through the task's event stream (slow): its log lines
arrive while the build runs, not only after it, and are the lines the build stored."""

import secrets
from pathlib import Path

import boto3
import httpx
import pytest

from app.bootstrap import ensure_resources
from app.main import create_app
from testing.dynamodb_local import reset_shared_dynamodb_local
from testing.infra_service import running_infra_service
from testing.live_server import serving
from testing.moto import reset_moto
from tests.conftest import make_settings
from tests.events.conftest import Reader

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


async def test_a_real_builds_log_streams_while_it_compiles(moto_server: str) -> None:
    reset_moto(moto_server)
    reset_shared_dynamodb_local()
    # A source no build has seen: compiled, not served from the build cache.
    source = (EXAMPLES / "hello" / "app.py").read_bytes() + f"\n# {secrets.token_hex(8)}\n".encode()
    with running_infra_service(aws_endpoint=moto_server) as infra:
        settings = make_settings(
            moto_server,
            pollers_enabled=True,
            build_service_url=infra.url, push_service_url=infra.url,
            scaffold_service_url=infra.url, deploy_service_url=infra.url,
            infra_service_token=infra.token,
            poll_interval_seconds=0.5, poll_first_delay_seconds=0.1, poller_tick_seconds=0.5,
            infra_request_timeout_seconds=30, events_log_poll_seconds=0.2,
        )  # fmt: skip
        ensure_resources(settings)
        with serving(create_app(settings)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=300) as api:
                workspace = (await api.post("/api/workspaces", json={"name": "e2e"})).json()
                task = (
                    await api.post(
                        "/api/v1/build",
                        data={"workspace_id": workspace["id"], "app_name": "hello"},
                        files={"file": ("app.py", source)},
                    )
                ).json()
                async with api.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as stream:
                    events = await Reader(stream).all()
    assert events[-1].event == "end" and events[-1].json()["status"] == "completed", events[-1]

    build_done = next(
        n for n, e in enumerate(events)
        if e.event == "task" and e.json()["stages"][0]["status"] == "completed"
    )  # fmt: skip
    build_lines = [
        (n, e.json()["message"])
        for n, e in enumerate(events)
        if e.event == "log" and e.json()["source"] == "build"
    ]
    during = [line for n, line in build_lines if n < build_done]
    assert any("componentize-py" in line for line in during), during  # live, mid-build

    bucket = task["result"]["source_code_path"].removeprefix("s3://").split("/", 1)[0]
    stored = (
        boto3.client(
            "s3",
            endpoint_url=moto_server,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        .get_object(Bucket=bucket, Key=f"build-logs/{task['task_id']}/build.log")["Body"]
        .read()
    )
    assert [line for _, line in build_lines] == stored.decode().splitlines()  # fmt: skip

"""A backend killed (SIGKILL) mid-upload leaves nothing behind once it has started again.

The backend runs as `make run` starts it: a uvicorn process on a free loopback port, against
the test's AWS emulation (its settings passed as environment variables). A 40 MiB source goes
to S3 as a multipart upload; the process is killed while the parts are on their way. Started
again, its start-up sweep aborts the unfinished upload: nothing of it is left in S3, and every
task that exists still has its source.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
from pydantic import SecretStr

from app.config import Settings
from tests.api.support import PROTOCOL, free_port
from tests.conftest import with_overrides

BACKEND = Path(__file__).resolve().parents[2]
ROOT = BACKEND.parent
MIB = 1024 * 1024
HANDLER = b"""from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(200, {"content-type": "text/plain"}, b"hello")
"""


def _environment(settings: Settings) -> dict[str, str]:
    """Every setting as the variable the backend reads (follows whatever emulation is used)."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(getattr(value, "value", value))
    env["PYTHONPATH"] = os.pathsep.join([str(BACKEND), str(ROOT)])
    return env


@contextmanager
def backend_process(settings: Settings, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port), "--http", PROTOCOL],
            cwd=BACKEND, env=_environment(settings), stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the backend did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _s3(settings: Settings) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url,
        region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key.get_secret_value()
        if settings.aws_secret_access_key
        else None,
    )


def _dynamodb(settings: Settings) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint,
        region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key.get_secret_value()
        if settings.aws_secret_access_key
        else None,
    )


def _uploads(s3: Any, bucket: str, prefix: str) -> list[dict]:
    return s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])


def _objects(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _tasks(dynamodb: Any, table: str) -> list[dict]:
    items = dynamodb.scan(TableName=table)["Items"]
    return [item for item in items if item["SK"]["S"].startswith("BUILD#")]


def test_a_backend_killed_mid_upload_leaves_nothing_once_restarted(
    settings: Settings, tmp_path: Path
) -> None:
    settings = with_overrides(settings, pollers_enabled=False, sweep_grace_seconds=0)
    s3, dynamodb = _s3(settings), _dynamodb(settings)
    bucket, log = settings.s3_bucket, tmp_path / "backend.log"
    # 40 MiB of valid Python: five 8 MiB parts go to S3 one after the other.
    source = HANDLER + b"# padding\n" * (40 * MIB // 10)
    with backend_process(settings, log) as (process, url):
        workspace = httpx.post(f"{url}/api/workspaces", json={"name": "killed"}).json()
        prefix = f"build-sources/{workspace['id']}/"

        def upload() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it: expected
                httpx.post(
                    f"{url}/api/v1/build",
                    data={"workspace_id": workspace["id"], "app_name": "hello"},
                    files={"file": ("app.py", source)},
                    timeout=120,
                )

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        deadline = time.monotonic() + 120
        while not _uploads(s3, bucket, prefix):
            assert sender.is_alive(), "the upload finished before it could be interrupted"
            assert time.monotonic() < deadline, "no multipart upload began"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        sender.join(timeout=30)

    interrupted = _uploads(s3, bucket, prefix)
    assert interrupted, "the kill came after the upload finished; nothing to sweep"
    assert not [
        t
        for t in _tasks(dynamodb, settings.dynamodb_table)
        if t["PK"]["S"].endswith(workspace["id"])
    ], "the killed upload has no task"

    with backend_process(settings, log) as (_, url):
        deadline = time.monotonic() + 30
        while _uploads(s3, bucket, prefix) or _objects(s3, bucket, prefix):
            assert time.monotonic() < deadline, "the start-up sweep left the upload behind"
            time.sleep(0.1)
        assert httpx.get(f"{url}/api/workspaces/{workspace['id']}/tasks").json()["items"] == []

    for task in _tasks(dynamodb, settings.dynamodb_table):
        source_path = task["source_code_path"]["S"]
        key = source_path.split("/", 3)[3]
        assert _objects(s3, bucket, key) == [key], f"a task refers to a missing {source_path}"
    assert "removed" in log.read_text() or "aborted" in log.read_text()

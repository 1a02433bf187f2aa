"""Build failures that need no full compile: checked early, logged to S3 in every outcome."""

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from conftest import AUTH, BUCKET, EXAMPLES, make_settings, run_job
from infra_service.main import create_app

HELLO = (EXAMPLES / "hello" / "app.py").read_bytes()


async def _build(client: httpx.AsyncClient, s3: Any, filename: str, source: bytes) -> dict:
    key = f"build-sources/ws-1/task-1/{filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=source)
    body = {
        "job_key": "task-1:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/{key}",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-1/hello.wasm",
        "task_id": "task-1",
        "log_path": f"s3://{BUCKET}/build-logs/task-1/build.log",
    }
    return await run_job(client, "builds", body, timeout=30)


def _log(s3: Any) -> str:
    return s3.get_object(Bucket=BUCKET, Key="build-logs/task-1/build.log")["Body"].read().decode()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_a_syntax_error_fails_at_once_with_the_line_and_a_stored_log(
    client: httpx.AsyncClient, s3: Any
) -> None:
    job = await _build(client, s3, "app.py", b"def handler(:\n    pass\n")
    assert job["error"]["code"] == "BUILD_FAILED"
    assert job["error"]["message"].startswith("app.py, line 1")
    assert job["log_path"] == f"s3://{BUCKET}/build-logs/task-1/build.log"
    assert "FAILED (BUILD_FAILED): app.py, line 1" in _log(s3)
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix="build-artifacts/").get("KeyCount", 0)
    assert objects == 0


async def test_a_missing_source_object_fails_plainly(client: httpx.AsyncClient, s3: Any) -> None:
    body = {
        "job_key": "task-1:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/build-sources/ws-1/task-1/gone.py",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-1/hello.wasm",
        "log_path": f"s3://{BUCKET}/build-logs/task-1/build.log",
    }
    job = await run_job(client, "builds", body)
    assert job["error"]["code"] == "SOURCE_NOT_FOUND"
    assert "gone.py" in _log(s3)


async def test_without_a_log_path_the_log_goes_under_the_job_id(
    client: httpx.AsyncClient, s3: Any
) -> None:
    body = {
        "job_key": "task-2:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/build-sources/ws-1/task-2/gone.py",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-2/hello.wasm",
    }
    job = await run_job(client, "builds", body)
    assert job["log_path"] == f"s3://{BUCKET}/build-logs/{job['job_id']}/build.log"
    stored = s3.get_object(Bucket=BUCKET, Key=f"build-logs/{job['job_id']}/build.log")
    assert "gone.py" in stored["Body"].read().decode()


async def test_a_log_path_outside_the_bucket_is_refused_up_front(
    client: httpx.AsyncClient, s3: Any
) -> None:
    body = {
        "job_key": "task-3:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/build-sources/ws-1/task-3/app.py",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-3/hello.wasm",
        "log_path": "s3://elsewhere/build.log",
    }
    response = await client.post("/v1/builds", json=body)
    assert response.status_code == 422
    assert "log_path" in response.json()["detail"]


async def test_an_unsafe_zip_is_refused_before_anything_is_unpacked(
    client: httpx.AsyncClient, s3: Any
) -> None:
    job = await _build(client, s3, "src.zip", _zip({"app.py": HELLO, "../../escape.py": b""}))
    assert job["error"]["code"] == "INVALID_SOURCE"
    assert "escape.py" in job["error"]["message"]


async def test_requirements_are_refused_clearly_when_installs_are_disabled(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    settings = make_settings(aws_endpoint, tmp_path / "scratch", allow_requirements=False)
    source = _zip({"app.py": HELLO, "requirements.txt": b"spin-sdk==3.4.1\nhumanize==4.9.0\n"})
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        job = await _build(client, s3, "src.zip", source)
    assert job["error"]["code"] == "BUILD_FAILED"
    assert "does not install dependencies" in job["error"]["message"]
    assert "spin-sdk is provided by the toolchain" in _log(s3)


async def test_a_requirement_line_pip_must_not_see_is_refused_naming_the_line(
    client: httpx.AsyncClient, s3: Any
) -> None:
    source = _zip({"app.py": HELLO, "requirements.txt": b"humanize\n--extra-index-url http://x\n"})
    job = await _build(client, s3, "src.zip", source)
    assert job["error"]["code"] == "BUILD_FAILED"
    assert "requirements.txt, line 2" in job["error"]["message"]


@pytest.mark.e2e
async def test_a_build_past_its_deadline_is_killed_and_fails_with_build_timeout(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    settings = make_settings(aws_endpoint, scratch, build_timeout_seconds=1.0)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        job = await _build(client, s3, "app.py", HELLO)
    assert job["error"]["code"] == "BUILD_TIMEOUT"
    assert "within 1 s" in job["error"]["message"]
    assert not list(scratch.glob("build-*")), "the scratch folder is removed"
    assert "FAILED (BUILD_TIMEOUT)" in _log(s3)


def _wheel(folder: Path, name: str, module_source: str) -> Path:
    """A minimal pure-Python wheel (py3-none-any) written by hand into a local wheelhouse."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{dist}/RECORD": record}.items():
            archive.writestr(path, text)
    return wheel


async def test_a_package_without_a_pure_python_wheel_is_refused_with_the_reason(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    settings = make_settings(aws_endpoint, tmp_path / "scratch", pip_find_links=str(wheelhouse))
    source = _zip({"app.py": HELLO, "requirements.txt": b"numpy==2.1.0\n"})
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        job = await _build(client, s3, "src.zip", source)
    assert job["error"]["code"] == "BUILD_FAILED"
    message = job["error"]["message"]
    assert "Only pure-Python packages" in message
    assert "numpy" in message


@pytest.mark.e2e
async def test_pure_python_requirements_are_installed_and_bundled(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    _wheel(wheelhouse, "tinygreeting", "def greet():\n    return 'hi from a wheel'\n")
    settings = make_settings(aws_endpoint, tmp_path / "scratch", pip_find_links=str(wheelhouse))
    app_source = HELLO.replace(
        b"from spin_sdk import http\n", b"import tinygreeting\nfrom spin_sdk import http\n"
    )
    source = _zip(
        {"app.py": app_source, "requirements.txt": b"spin-sdk==3.4.1\ntinygreeting==1.0\n"}
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        job = await _build(client, s3, "src.zip", source)
    assert job["status"] == "succeeded", job["error"]
    log = _log(s3)
    assert "installing pure-Python wheels: tinygreeting==1.0" in log
    assert "requirements installed" in log

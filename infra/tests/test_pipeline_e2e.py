"""End to end through the service's HTTP API with the real toolchain (slow: real builds).

One service (started by testing/infra_service.py, as the backend's tests start it), one moto
bucket and one docker-registry for the module; the hello build is shared by the tests that
need a component.
"""

import io
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
import wasmtime
import yaml
from k8s_schemas import SPINAPP
from wasmtime.component import Component

from conftest import BUCKET, EXAMPLES, s3_client
from testing.infra_service import InfraService, running_infra_service, running_registry
from testing.moto import reset_moto
from testing.oci_format import check_spin_artifact

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    infra: InfraService
    http: httpx.Client
    s3: Any
    registry: str


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[Stack]:
    reset_moto(moto_server)
    s3 = s3_client(moto_server)
    s3.create_bucket(Bucket=BUCKET)
    with (
        running_registry() as registry,
        # Its own caches: the first build here must be a real one (`cached: false`).
        running_infra_service(
            aws_endpoint=moto_server, registry=registry, shared_caches=False
        ) as infra,
        httpx.Client(base_url=infra.url, headers=infra.headers, timeout=30) as http,
    ):
        yield Stack(infra=infra, http=http, s3=s3, registry=registry.host)


def _run(stack: Stack, collection: str, body: dict[str, Any], timeout: float = 180) -> dict:
    posted = stack.http.post(f"/v1/{collection}", json=body)
    assert posted.status_code == 202, posted.text
    deadline = time.monotonic() + timeout
    while True:
        job = stack.http.get(f"/v1/{collection}/{posted.json()['job_id']}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"{collection} job still {job['status']}"
        time.sleep(0.05)


def _build(stack: Stack, task: str, filename: str, source: bytes, app: str = "hello") -> dict:
    key = f"build-sources/ws-1/{task}/{filename}"
    stack.s3.put_object(Bucket=BUCKET, Key=key, Body=source)
    body = {
        "job_key": f"{task}:build",
        "workspace_id": "ws-1",
        "app_name": app,
        "source": f"s3://{BUCKET}/{key}",
        "artifact": f"s3://{BUCKET}/build-artifacts/{task}/{app}.wasm",
        "task_id": task,
        "log_path": f"s3://{BUCKET}/build-logs/{task}/build.log",
    }
    return _run(stack, "builds", body)


def _log(stack: Stack, job: dict) -> str:
    key = job["log_path"].removeprefix(f"s3://{BUCKET}/")
    return stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def _zip_folder(folder: str, *, top: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((EXAMPLES / folder).glob("*.py")):
            archive.write(path, f"{top}/{path.name}" if top else path.name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hello(stack: Stack) -> dict:
    """The hello example built once for the module (a real componentize-py run)."""
    started = time.monotonic()
    job = _build(stack, "task-hello", "hello.py", (EXAMPLES / "hello" / "app.py").read_bytes())
    elapsed = time.monotonic() - started
    assert job["status"] == "succeeded", job["error"]
    print(f"\nhello build: {elapsed:.1f} s, {job['result']['size']:,} bytes", file=sys.stderr)
    return job


def test_hello_builds_to_a_valid_wasm_component_in_s3(stack: Stack, hello: dict) -> None:
    result = hello["result"]
    assert result["wasm_path"] == f"s3://{BUCKET}/build-artifacts/task-hello/hello.wasm"
    data = stack.s3.get_object(Bucket=BUCKET, Key="build-artifacts/task-hello/hello.wasm")
    wasm = data["Body"].read()
    assert len(wasm) == result["size"] and result["cached"] is False
    config = wasmtime.Config()
    config.wasm_component_model = True
    config.cranelift_opt_level = "none"  # validation and linking types only; halves the time
    engine = wasmtime.Engine(config)
    component = Component(engine, wasm)  # raises unless it is a valid component
    # The HTTP export every Spin 3.x host (containerd-shim-spin v0.21-v0.25) recognises.
    assert "wasi:http/incoming-handler@0.2.0" in component.type.exports(engine)
    assert hello["log_path"] == f"s3://{BUCKET}/build-logs/task-hello/build.log"
    log = _log(stack, hello)
    assert "Component built successfully" in log
    assert "componentize-py==0.17.2;spin-sdk==3.4.1" in log


def test_the_built_component_pushes_as_a_spin_app_the_shim_can_run(
    stack: Stack, hello: dict
) -> None:
    body = {
        "job_key": "task-hello:push",
        "wasm_path": hello["result"]["wasm_path"],
        "app_name": "hello",
        "repository": "faas-functions",
        "tag": "task-hello",
    }
    job = _run(stack, "pushes", body)
    assert job["status"] == "succeeded", job["error"]
    check_spin_artifact(
        image_url=job["result"]["image_url"],
        app_name="hello",
        wasm_sha256=hello["result"]["sha256"],
        wasm_size=hello["result"]["size"],
    )
    scaffold = _run(
        stack,
        "scaffolds",
        {
            "job_key": "task-hello:scaffold",
            "image_url": job["result"]["image_url"],
            "app_name": "hello",
        },
    )
    (app,) = yaml.safe_load_all(scaffold["result"]["manifest"])
    assert app["spec"]["image"] == job["result"]["image_url"]
    jsonschema.validate(app, SPINAPP)


def test_the_same_source_again_is_served_from_the_cache_in_under_a_second(
    stack: Stack, hello: dict
) -> None:
    started = time.monotonic()
    job = _build(stack, "task-again", "handler.py", (EXAMPLES / "hello" / "app.py").read_bytes())
    elapsed = time.monotonic() - started
    print(f"\ncached build: {elapsed * 1000:.0f} ms", file=sys.stderr)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["cached"] is True
    assert job["result"]["sha256"] == hello["result"]["sha256"]
    assert job["result"]["wasm_path"] == f"s3://{BUCKET}/build-artifacts/task-again/hello.wasm"
    stored = stack.s3.head_object(Bucket=BUCKET, Key="build-artifacts/task-again/hello.wasm")
    assert stored["ContentLength"] == hello["result"]["size"]
    assert elapsed < 1.0
    assert "served from the build cache" in _log(stack, job)


def test_a_syntax_error_fails_the_build_naming_the_line(stack: Stack) -> None:
    source = b"from spin_sdk import http\n\n\nclass IncomingHandler(http.IncomingHandler)\n"
    job = _build(stack, "task-syntax", "app.py", source)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "BUILD_FAILED"
    assert "line 4" in job["error"]["message"]
    assert "SyntaxError" in job["error"]["message"]
    assert job["log_path"] == f"s3://{BUCKET}/build-logs/task-syntax/build.log"
    assert "FAILED (BUILD_FAILED)" in _log(stack, job)


def test_an_error_raised_while_componentizing_reaches_the_message(stack: Stack) -> None:
    source = (
        EXAMPLES / "hello" / "app.py"
    ).read_bytes() + b'\nraise RuntimeError("boom at import")\n'
    job = _build(stack, "task-boom", "app.py", source)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "BUILD_FAILED"
    assert "RuntimeError: boom at import" in job["error"]["message"]
    assert "Stack backtrace" not in job["error"]["message"]
    assert "boom at import" in _log(stack, job)


@pytest.mark.parametrize(
    ("example", "filename", "top"),
    [("echo", "echo.py", None), ("with-helper", "with-helper.zip", "with-helper")],
)
def test_the_other_examples_compile(
    stack: Stack, example: str, filename: str, top: str | None
) -> None:
    if filename.endswith(".zip"):
        source = _zip_folder(example, top=top)
    else:
        source = (EXAMPLES / example / "app.py").read_bytes()
    job = _build(stack, f"task-{example}", filename, source, app=example)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["size"] > 1_000_000

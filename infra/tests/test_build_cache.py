"""The node-local build cache (INFRA_BUILD_CACHE_DIR) and the shared compiled-cache setting."""

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from conftest import AUTH, BUCKET, EXAMPLES, make_settings, run_job
from infra_service.cache import LocalComponents, cache_key
from infra_service.main import create_app
from infra_service.runtime.store import RuntimeStore
from infra_service.toolchain import prepare_toolchain
from testing.infra_service import SHARED_CACHE_ENV, infra_environment

HELLO = (EXAMPLES / "hello" / "app.py").read_bytes()
FAKE_WASM = b"\0asm\x0d\x00\x01\x00" + b"component bytes" * 100  # the service checks the magic


def _file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _put(store: LocalComponents, key: str, data: bytes, folder: Path) -> Path:
    store.put(key, _file(folder, f"{key}.in", data), sha256=hashlib.sha256(data).hexdigest())
    return store.root / f"{key}.{hashlib.sha256(data).hexdigest()}.wasm"


def test_a_kept_component_comes_back_checked_and_nothing_temporary_is_left(
    tmp_path: Path,
) -> None:
    store = LocalComponents(tmp_path / "cache", max_bytes=10_000)
    kept = _put(store, "k1", FAKE_WASM, tmp_path)
    assert kept.read_bytes() == FAKE_WASM
    assert sorted(p.name for p in store.root.iterdir()) == [kept.name]
    hit = store.get("k1", tmp_path / "out.wasm")
    assert hit is not None
    assert (hit.sha256, hit.size) == (hashlib.sha256(FAKE_WASM).hexdigest(), len(FAKE_WASM))
    assert (tmp_path / "out.wasm").read_bytes() == FAKE_WASM
    assert store.get("other", tmp_path / "none.wasm") is None


def test_a_file_whose_bytes_do_not_match_its_sha256_is_removed_not_served(
    tmp_path: Path,
) -> None:
    store = LocalComponents(tmp_path / "cache", max_bytes=10_000)
    kept = _put(store, "k1", FAKE_WASM, tmp_path)
    kept.write_bytes(FAKE_WASM[:-1] + b"!")  # bit rot, or a torn copy by hand
    assert store.get("k1", tmp_path / "out.wasm") is None
    assert not kept.exists() and not (tmp_path / "out.wasm").exists()


def test_the_least_recently_used_components_are_evicted_past_the_bound(tmp_path: Path) -> None:
    store = LocalComponents(tmp_path / "cache", max_bytes=1000)
    data = {key: FAKE_WASM[:8] + key.encode() * 150 for key in ("a", "b", "c")}  # 158 B each
    paths = {key: _put(store, key, data[key], tmp_path) for key in ("a", "b")}
    os.utime(paths["a"], (1_000, 1_000))
    os.utime(paths["b"], (2_000, 2_000))
    assert store.get("a", tmp_path / "a.wasm") is not None  # "a" is now the most recent
    store.max_bytes = 2 * len(data["a"])
    paths["c"] = _put(store, "c", data["c"], tmp_path)
    assert (paths["a"].exists(), paths["b"].exists(), paths["c"].exists()) == (True, False, True)


def test_a_component_larger_than_the_bound_is_not_kept(tmp_path: Path) -> None:
    store = LocalComponents(tmp_path / "cache", max_bytes=100)
    _put(store, "big", FAKE_WASM, tmp_path)
    assert list(store.root.iterdir()) == []


async def _build(client: httpx.AsyncClient, s3: Any, task: str) -> dict[str, Any]:
    key = f"build-sources/ws-1/{task}/app.py"
    s3.put_object(Bucket=BUCKET, Key=key, Body=HELLO)
    body = {
        "job_key": f"{task}:build",
        "workspace_id": "ws-1",
        "app_name": "hello",
        "source": f"s3://{BUCKET}/{key}",
        "artifact": f"s3://{BUCKET}/build-artifacts/{task}/hello.wasm",
        "log_path": f"s3://{BUCKET}/build-logs/{task}/build.log",
    }
    return await run_job(client, "builds", body, timeout=30)


def _text(s3: Any, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def _hello_key(tmp_path: Path) -> str:
    fingerprint = prepare_toolchain(tmp_path / "toolchain").fingerprint
    return cache_key(
        source_sha256=hashlib.sha256(HELLO).hexdigest(), source_name="app.py", toolchain=fingerprint
    )


async def test_a_local_hit_survives_a_lost_s3_object_and_uploads_the_checked_bytes(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    # As after a moto reset or a lifecycle rule: no S3 object, no index, only the node's copy.
    store = LocalComponents(tmp_path / "builds", max_bytes=10**9)
    _put(store, _hello_key(tmp_path), FAKE_WASM, tmp_path)
    settings = make_settings(aws_endpoint, tmp_path / "scratch", build_cache_dir=store.root)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        first = await _build(client, s3, "task-1")
        second = await _build(client, s3, "task-2")
    digest = hashlib.sha256(FAKE_WASM).hexdigest()
    assert first["status"] == "succeeded", first["error"]
    assert first["result"] | {"source_sha256": None} == {
        "wasm_path": f"s3://{BUCKET}/build-artifacts/task-1/hello.wasm",
        "sha256": digest,
        "size": len(FAKE_WASM),
        "cached": True,
        "source_sha256": None,
    }
    stored = s3.get_object(Bucket=BUCKET, Key="build-artifacts/task-1/hello.wasm")
    assert stored["Body"].read() == FAKE_WASM
    assert stored["Metadata"]["sha256"] == digest
    assert "served from the node-local build cache" in _text(s3, "build-logs/task-1/build.log")
    # The upload is remembered: the next hit is a server-side copy of it.
    assert second["result"]["cached"] is True
    log = _text(s3, "build-logs/task-2/build.log")
    assert f"same inputs as s3://{BUCKET}/build-artifacts/task-1/hello.wasm" in log


async def test_a_corrupt_local_entry_is_dropped_and_the_source_really_builds(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    store = LocalComponents(tmp_path / "builds", max_bytes=10**9)
    kept = _put(store, _hello_key(tmp_path), FAKE_WASM, tmp_path)
    kept.write_bytes(b"\0asm not what was stored")
    settings = make_settings(
        aws_endpoint, tmp_path / "scratch", build_cache_dir=store.root, build_timeout_seconds=1.0
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
        ) as client,
    ):
        job = await _build(client, s3, "task-1")
    # componentize-py ran (and was stopped at the 1 s deadline): the bad copy was not served.
    assert job["error"]["code"] == "BUILD_TIMEOUT"
    assert not kept.exists()


async def test_the_local_runtime_compiles_into_the_configured_folder(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    shared = tmp_path / "compiled"
    settings = make_settings(aws_endpoint, tmp_path / "scratch", runtime_compiled_dir=shared)
    app = create_app(settings)
    async with LifespanManager(app):
        assert app.state.deploy_target.store.compiled == shared
    assert shared.is_dir() and not (settings.runtime_root / "compiled").exists()


def test_the_compiled_cache_folder_defaults_under_the_runtime_dir_or_is_the_setting(
    aws_endpoint: str, tmp_path: Path
) -> None:
    default = make_settings(aws_endpoint, tmp_path / "scratch")
    assert default.runtime_compiled_root == tmp_path / "scratch" / "runtime" / "compiled"
    shared = make_settings(aws_endpoint, tmp_path / "scratch", runtime_compiled_dir=tmp_path / "c")
    assert shared.runtime_compiled_root == tmp_path / "c"
    store = RuntimeStore(shared.runtime_root, compiled=shared.runtime_compiled_root)
    assert store.compiled == tmp_path / "c" and store.compiled.is_dir()
    assert not (shared.runtime_root / "compiled").exists()


def test_test_services_share_the_session_caches_unless_a_test_opts_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SHARED_CACHE_ENV, str(tmp_path))
    shared = infra_environment(aws_endpoint="http://127.0.0.1:1")
    assert shared["INFRA_BUILD_CACHE_DIR"] == str(tmp_path / "builds")
    assert shared["INFRA_RUNTIME_COMPILED_DIR"] == str(tmp_path / "compiled")
    own = infra_environment(aws_endpoint="http://127.0.0.1:1", shared_caches=False)
    assert "INFRA_BUILD_CACHE_DIR" not in own and "INFRA_RUNTIME_COMPILED_DIR" not in own
    monkeypatch.delenv(SHARED_CACHE_ENV)
    assert "INFRA_BUILD_CACHE_DIR" not in infra_environment(aws_endpoint="http://127.0.0.1:1")

"""The host across processes: the compiled cache, key-value data across a restart, `once`
mode, and the ways a start can fail."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from wasmtime import Engine

from infra_service.runtime.compiled import _deserialize, cache_path, engine_config
from runtime.hosting import (
    INFRA,
    Component,
    FirstStart,
    locked_app,
    run_once,
    running_host,
    write_config,
)

pytestmark = pytest.mark.e2e


def test_the_first_start_compiles_and_the_next_loads_from_the_cache(
    probe: Component, first_start: FirstStart, tmp_path: Path
) -> None:
    assert first_start.ready["compiled_from_cache"] is False and first_start.status == 200
    assert cache_path(first_start.cache, probe.sha256).is_file()
    assert not list(first_start.cache.glob(".*.tmp"))  # the temporary file was renamed
    config = write_config(tmp_path, probe, first_start.cache)
    with running_host(config) as again:
        assert again.ready is not None and again.ready["compiled_from_cache"] is True
        assert httpx.get(f"{again.url}/hello").text == "hello from probe\n"


def test_a_corrupt_cache_file_is_discarded_not_fatal(tmp_path: Path) -> None:
    path = cache_path(tmp_path, "0" * 64)
    path.write_bytes(b"not a serialised component")
    assert _deserialize(Engine(engine_config()), path) is None
    assert not path.exists()  # removed, so the next load compiles afresh


def test_the_key_value_store_survives_a_restart(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, probe, compiled_cache)
    with running_host(config) as host:
        assert [httpx.get(f"{host.url}/kv").text for _ in range(2)] == ["1", "2"]
    with running_host(config) as host:
        assert httpx.get(f"{host.url}/kv").text == "3"


def test_a_component_without_the_grant_may_not_open_the_default_store(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, probe, compiled_cache, locked_app=locked_app("probe", probe.sha256)
    )
    result = run_once(config, {"method": "GET", "path": "/kv"})
    assert result["status"] == 500 and result["error_code"] == "FUNCTION_ERROR"
    assert "may not use the key-value store 'default'" in result["stderr"]
    assert not (tmp_path / "kv" / "default.sqlite3").exists()


def test_once_runs_one_request_and_prints_a_test_invocation_result(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, probe, compiled_cache)
    result = run_once(
        config,
        {"method": "POST", "path": "/echo?status=202", "headers": {"x-a": "b"},
         "body": "aGk=", "body_encoding": "base64"},
    )  # fmt: skip
    assert result["status"] == 202 and result["body_encoding"] == "utf-8"
    assert result["headers"]["x-probe"] == "echo"
    echoed = json.loads(result["body"])
    assert echoed["body"] == "hi" and echoed["headers"]["x-a"] == "b"
    assert result["error_code"] is None and result["error_message"] is None
    assert result["duration_ms"] > 0

    printed = run_once(config, {"method": "GET", "path": "/print"})
    assert printed["stdout"] == "line one from the guest"
    assert printed["stderr"] == "line two to stderr"


def test_once_reports_the_limits_with_their_codes(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, probe, compiled_cache, limits={"timeout_ms": 1000})
    looped = run_once(config, {"path": "/loop"})
    assert looped["status"] == 504 and looped["error_code"] == "FUNCTION_TIMEOUT"
    assert "1000 ms" in looped["error_message"]
    assert "[runtime] the function trapped" in looped["stderr"]
    raised = run_once(config, {"path": "/raise"})
    assert raised["status"] == 500 and raised["error_code"] == "FUNCTION_ERROR"
    assert "RuntimeError: probe failure on purpose" in raised["stderr"]
    big = run_once(config, {"path": "/size", "body": "x" * (300 * 1024)})
    assert big["status"] == 413 and big["error_code"] == "REQUEST_TOO_LARGE"


def test_once_reports_a_file_that_is_not_a_component(tmp_path: Path) -> None:
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(b"\0asm but not really")
    fake = Component(wasm=wasm, sha256=hashlib.sha256(wasm.read_bytes()).hexdigest())
    config = write_config(tmp_path, fake, tmp_path / "cache")
    result = run_once(config, {"path": "/"})
    assert result["status"] == 500 and result["error_code"] == "COMPONENT_INVALID"
    assert json.loads(result["body"])["code"] == "COMPONENT_INVALID"


def test_a_component_whose_bytes_do_not_match_its_digest_is_refused(
    probe: Component, tmp_path: Path
) -> None:
    wrong = Component(wasm=probe.wasm, sha256="f" * 64)
    config = write_config(tmp_path, wrong, tmp_path / "cache")
    result = run_once(config, {"path": "/hello"})
    assert result["error_code"] == "COMPONENT_INVALID" and "sha256" in result["error_message"]


def test_an_invalid_replica_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "replica.json"
    config.write_text(json.dumps({"app": {"namespace": "n"}, "component": "/x.wasm"}))
    done = subprocess.run(
        [sys.executable, "-m", "infra_service.runtime.host", "serve", "--config", str(config)],
        cwd=INFRA,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == b""
    assert b"invalid replica config" in done.stderr


def test_the_host_stops_when_nobody_reads_its_stdout(
    probe: Component, compiled_cache: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, probe, compiled_cache)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra_service.runtime.host", "serve", "--config", str(config)],
        cwd=INFRA,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        process.stdout.close()  # the supervisor is gone
        answer = httpx.get(f"http://127.0.0.1:{ready['port']}/hello", timeout=30)
        assert answer.status_code == 200  # served; its invocation line cannot be written
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

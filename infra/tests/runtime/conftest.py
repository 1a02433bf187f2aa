"""The component host under test: a probe component built once per session with the real
toolchain, and hosts started as real processes through their CLI (`host serve` / `host once`).

The probe (hosting.PROBE) answers one route per host feature. Every host of the session shares
one compiled cache, so only the first start compiles.
"""

import hashlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra_service.toolchain import child_env, prepare_toolchain
from runtime.hosting import PROBE, Component, FirstStart, Upstream, running_host, write_config


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Component:
    """The probe built by componentize-py through the build service's own toolchain setup."""
    root = tmp_path_factory.mktemp("probe-build")
    source = root / "src"
    source.mkdir()
    (source / "app.py").write_text(PROBE)
    toolchain = prepare_toolchain(root)
    out = root / "probe.wasm"
    command = toolchain.componentize_command(python_path=[str(source)], output=str(out))
    result = subprocess.run(
        ["nice", "-n", "10", *command],
        cwd=source,
        env=child_env(toolchain=toolchain, home=root),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Component(wasm=out, sha256=hashlib.sha256(out.read_bytes()).hexdigest())


@pytest.fixture(scope="session")
def first_start(probe: Component, tmp_path_factory: pytest.TempPathFactory) -> FirstStart:
    """The session's one compile: a host started on an empty cache, then stopped."""
    cache = tmp_path_factory.mktemp("compiled-cache")
    config = write_config(tmp_path_factory.mktemp("first-start"), probe, cache)
    with running_host(config) as host:
        assert host.ready is not None
        answer = httpx.get(f"{host.url}/hello", timeout=30)
    return FirstStart(cache=cache, ready=host.ready, status=answer.status_code)


@pytest.fixture(scope="session")
def compiled_cache(first_start: FirstStart) -> Path:
    """A compiled cache that already holds the probe: every later start is a cache hit."""
    return first_start.cache


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client

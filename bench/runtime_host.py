"""Component host: one replica (`python -m infra_service.runtime.host serve`) serving hello.

Figures: load time without and with the compiled cache (spawn → ready line, and the host's own
load_ms); requests/s and p50/p99 of hello at concurrency 1 and 4 (keep-alive clients in
threads of this process, on the same 2 cores); RSS idle and under load (VmRSS sampled, PSS from
smaps_rollup: the mapped compiled code is shared page cache). Where the prototype's ~365 MB
went is shown by two side measurements in child processes: RSS after compiling in-process,
and after loading the serialised component from bytes instead of mapping the file.

    python bench/runtime_host.py [--quick]
    BENCH_HELLO_WASM=/path/app.wasm python bench/runtime_host.py   # skip the build
"""

import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    PYTHON,
    ROOT,
    RssSampler,
    Section,
    cli,
    log,
    median,
    percentile,
)

NAME = "runtime_host"
TITLE = "Component host (one replica, hello)"
INFRA = ROOT / "infra"
TARGET_RSS_MIB = 200
MIB = 1024


def build_hello(scratch: Path) -> Path:
    given = os.environ.get("BENCH_HELLO_WASM")
    if given:
        return Path(given)
    workdir = scratch / "hello"
    workdir.mkdir()
    (workdir / "app.py").write_bytes((ROOT / "examples" / "hello" / "app.py").read_bytes())
    command = [
        str(Path(PYTHON).parent / "componentize-py"),
        "-w",
        "spin-http",
        "componentize",
        "app",
        "-o",
        "app.wasm",
    ]
    env = {**os.environ, "VIRTUAL_ENV": str(Path(PYTHON).parent.parent)}
    subprocess.run(command, cwd=workdir, env=env, check=True, capture_output=True, timeout=900)
    return workdir / "app.wasm"


def replica_config(directory: Path, wasm: Path, cache: Path, concurrency: int) -> Path:
    digest = hashlib.sha256(wasm.read_bytes()).hexdigest()
    config = {
        "app": {"namespace": "bench", "name": "hello"},
        "replica": "r0",
        "component": str(wasm),
        "component_sha256": digest,
        "compiled_cache_dir": str(cache),
        "locked_app": {"metadata": {"name": "hello"}, "components": [{"id": "hello"}]},
        "variables": {},
        "kv_dir": str(directory / "kv"),
        "listen": {"host": "127.0.0.1", "port": 0},
        "limits": {
            "timeout_ms": 10_000,
            "memory_bytes": 128 * 1024 * 1024,
            "max_request_bytes": 1 << 20,
            "max_response_bytes": 1 << 20,
            "concurrency": concurrency,
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "replica.json"
    path.write_text(json.dumps(config))
    return path


class Replica:
    """A host process; `ready` is its first stdout line, the rest of stdout is drained."""

    def __init__(self, config: Path) -> None:
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "infra_service.runtime.host", "serve", "--config", str(config)],
            cwd=INFRA,
            env={**os.environ, "PYTHONPATH": str(INFRA)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.spawn_to_ready = time.perf_counter() - started
        if not line:
            raise RuntimeError(f"host exited with {self.process.wait()} before ready")
        self.ready: dict[str, Any] = json.loads(line)
        self.url = f"http://127.0.0.1:{self.ready['port']}"
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def memory(self) -> dict[str, int]:
        """VmRSS, VmHWM, RssAnon, RssFile and Pss, in KiB."""
        values: dict[str, int] = {}
        for name in ("status", "smaps_rollup"):
            for line in Path(f"/proc/{self.process.pid}/{name}").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in {"VmRSS", "VmHWM", "RssAnon", "RssFile", "Pss"}:
                    values[key] = int(rest.split()[0])
        return values

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=30)


def load_requests(url: str, *, total: int, concurrency: int) -> tuple[float, list[float], int]:
    """req/s, latencies (s) and failures of `total` GETs of `url` from `concurrency` clients."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def client(count: int) -> None:
        nonlocal failures
        with httpx.Client(timeout=30) as http:
            for _ in range(count):
                began = time.perf_counter()
                status = http.get(url).status_code
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    failures += status != 200

    threads = [
        threading.Thread(target=client, args=(total // concurrency,)) for _ in range(concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), latencies, failures


SIDE = """
import sys, wasmtime, wasmtime.component as wc
from infra_service.runtime.compiled import engine_config
engine = wasmtime.Engine(engine_config())
if sys.argv[1] == "compile":
    component = wc.Component.from_file(engine, sys.argv[2])
elif sys.argv[1] == "bytes":
    component = wc.Component.deserialize(engine, open(sys.argv[2], "rb").read())
else:
    component = wc.Component.deserialize_file(engine, sys.argv[2])
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(status["VmRSS"].split()[0], status["VmHWM"].split()[0])
"""


def side_rss(mode: str, path: Path) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB of a child that compiles, loads from bytes, or maps the file."""
    done = subprocess.run(
        [PYTHON, "-c", SIDE, mode, str(path)],
        cwd=INFRA,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(INFRA)},
    )
    rss, hwm = (int(v) for v in done.stdout.split())
    return rss, hwm


def mib(kib: float) -> str:
    return f"{kib / MIB:.0f} MiB"


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    restarts = 2 if quick else 3
    counts = {1: 150 if quick else 400, 4: 300 if quick else 800}
    with tempfile.TemporaryDirectory(prefix="bench-host-") as scratch_name:
        scratch = Path(scratch_name)
        log("runtime_host: building hello")
        wasm = build_hello(scratch)
        cache = scratch / "cache"
        config = replica_config(scratch / "replica", wasm, cache, concurrency=4)

        cold = Replica(config)  # empty cache: compiles in a child, then maps the file
        cold.stop()
        warm = []
        for _ in range(restarts):
            replica = Replica(config)
            assert replica.ready["compiled_from_cache"]
            warm.append((replica.spawn_to_ready, replica.ready["load_ms"]))
            replica.stop()
        section.add(
            "start without cache: spawn → ready (host load_ms)",
            f"{cold.spawn_to_ready:.1f} s ({cold.ready['load_ms'] / 1000:.1f} s)",
        )
        section.add(
            f"start with cache: spawn → ready (host load_ms), median of {restarts}",
            f"{median([w[0] for w in warm]) * 1000:.0f} ms ({median([w[1] for w in warm]):.0f} ms)",
            "≤ 2 s",
            median([w[0] for w in warm]) <= 2.0,
        )

        replica = Replica(config)
        try:
            load_requests(f"{replica.url}/", total=20, concurrency=1)  # warm-up
            time.sleep(1)
            idle = replica.memory()
            section.add(
                "RSS idle after 20 requests (PSS)",
                f"{mib(idle['VmRSS'])} "
                f"({mib(idle['Pss'])}; anon {mib(idle['RssAnon'])}, file {mib(idle['RssFile'])})",
                f"≤ {TARGET_RSS_MIB} MiB",
                idle["VmRSS"] <= TARGET_RSS_MIB * MIB,
            )
            peak = 0
            for concurrency in (1, 4):
                with RssSampler(replica.process.pid, interval=0.02) as sampler:
                    rate, latencies, failures = load_requests(
                        f"{replica.url}/", total=counts[concurrency], concurrency=concurrency
                    )
                peak = max(peak, sampler.peak_kib)
                section.add(
                    f"hello at concurrency {concurrency}: req/s, p50 / p99 "
                    f"({len(latencies)} requests, {failures} failed)",
                    f"{rate:.0f} req/s, {percentile(latencies, 50) * 1000:.1f} / "
                    f"{percentile(latencies, 99) * 1000:.1f} ms",
                )
                log(f"runtime_host: concurrency {concurrency}: {rate:.0f} req/s")
            hwm = replica.memory()["VmHWM"]
            section.add(
                "RSS under load: peak sampled (VmHWM)",
                f"{mib(peak)} ({mib(hwm)})",
                f"≤ {TARGET_RSS_MIB} MiB",
                hwm <= TARGET_RSS_MIB * MIB,
            )
        finally:
            replica.stop()

        compiled = next(cache.glob("*.cwasm"))
        compile_rss, compile_hwm = side_rss("compile", wasm)
        bytes_rss, _ = side_rss("bytes", compiled)
        mapped_rss, _ = side_rss("file", compiled)
        section.add(
            "side: RSS after compiling in-process (peak)",
            f"{mib(compile_rss)} ({mib(compile_hwm)})",
        )
        section.add(
            "side: RSS after loading the cache from bytes / mapping the file (as the host)",
            f"{mib(bytes_rss)} / {mib(mapped_rss)}",
        )
    section.note(
        "The host never compiles in-process: a cache miss compiles in a child "
        "(`python -m infra_service.runtime.compiled`) whose Cranelift peak ends with it; the "
        "replica maps the serialised file (`Component.deserialize_file`), so its code pages are "
        "shared page cache, and each request's Store (fresh instance, copy-on-write memory "
        "image) is dropped when the request ends."
    )
    section.note(
        "The load generator runs in this process on the same cores as the replica; figures are "
        "for comparison between runs, not capacity planning."
    )
    return section


if __name__ == "__main__":
    cli(run, NAME)

"""The engine, and the compiled-component cache: compile once per (wasm, wasmtime, config).

Compiling a 37 MB Python component takes 3-12 s and Cranelift's peak memory stays in the
process afterwards, so a replica never compiles in-process: a cache miss runs
`python -m infra_service.runtime.compiled <wasm> <out>` in a child, which writes the serialised
component atomically (temp file + rename). The replica then maps it with `deserialize_file`
(mmap: the code pages are shared page cache, not private memory).

Entries are named by the wasm's sha256 and a fingerprint of the wasmtime version, the engine
config and the CPU architecture, so one folder may serve several services on a node
(INFRA_RUNTIME_COMPILED_DIR): writers never collide (a temp file per process, then an atomic
rename), a lock file per entry makes concurrent misses compile once, and a reader either maps a
whole file or finds none.
"""

import fcntl
import hashlib
import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from wasmtime import Config, Engine, WasmtimeError
from wasmtime.component import Component

log = logging.getLogger(__name__)

CACHE_FORMAT = "1"  # bump when engine_config() changes


class CompileError(Exception):
    """The file is not a component this host can compile."""


def engine_config() -> Config:
    """The one engine configuration, shared by the compiling child and the replica."""
    config = Config()
    config.epoch_interruption = True  # the wall-time limit (limits.EpochTicker)
    return config


def _fingerprint() -> str:
    text = (
        f"wasmtime={metadata.version('wasmtime')};epoch_interruption=1;format={CACHE_FORMAT}"
        f";machine={platform.machine()}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / f"{sha256}-{_fingerprint()}.cwasm"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def compile_to(wasm: Path, out: Path) -> None:
    """Compile `wasm` and write the serialised component to `out` atomically."""
    engine = Engine(engine_config())
    try:
        component = Component.from_file(engine, wasm)
    except WasmtimeError as exc:
        raise CompileError(str(exc)) from None
    data = component.serialize()
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as target:
            target.write(data)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)


def _compile_in_child(wasm: Path, out: Path) -> None:
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "infra_service.runtime.compiled", str(wasm), str(out)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise CompileError(lines[-1] if lines else f"compiler exited with {result.returncode}")


def _deserialize(engine: Engine, path: Path) -> Component | None:
    try:
        return Component.deserialize_file(engine, str(path))
    except WasmtimeError as exc:
        # A torn or foreign file: recompile rather than fail the replica.
        log.warning("compiled cache file %s is unusable (%s); recompiling", path, exc)
        path.unlink(missing_ok=True)
        return None


def load_component(
    engine: Engine, *, wasm: Path, sha256: str, cache_dir: Path
) -> tuple[Component, bool]:
    """The component, from the cache when it is there; True when it came from the cache."""
    path = cache_path(cache_dir, sha256)
    if path.exists() and (component := _deserialize(engine, path)) is not None:
        return component, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f"{path.name}.lock").open("w") as lock:
        # Replicas starting together compile once: the others wait, then find the file.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and (component := _deserialize(engine, path)) is not None:
            return component, True
        actual = file_sha256(wasm)
        if actual != sha256:
            raise CompileError(f"{wasm} has sha256 {actual}, not the expected {sha256}")
        _compile_in_child(wasm, path)
    component = _deserialize(engine, path)
    if component is None:
        raise CompileError(f"the freshly compiled {path} could not be loaded")
    return component, False


def main() -> int:
    wasm, out = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        compile_to(wasm, out)
    except (CompileError, OSError) as exc:
        print(f"cannot compile {wasm}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

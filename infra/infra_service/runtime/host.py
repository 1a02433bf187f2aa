"""The component host: runs one Spin HTTP component (wasi:http/incoming-handler@0.2.0) on
wasmtime-py and serves it over HTTP. One OS process per app replica, started by the supervisor.

Interface (cwd `infra/`, or `infra/` on PYTHONPATH):

    python -m infra_service.runtime.host serve --config <replica.json>
    python -m infra_service.runtime.host once  --config <replica.json>

replica.json (runtime/replica.py; unknown keys are ignored):
    {"app": {"namespace", "name"}, "replica": "r0", "component": "/abs/app.wasm",
     "component_sha256": "<hex>", "compiled_cache_dir": "/abs/dir", "locked_app": {spin.json},
     "variables": {"name": "value"}, "kv_dir": "/abs/dir", "listen": {"host", "port": 0},
     "limits": {"timeout_ms", "memory_bytes", "max_request_bytes", "max_response_bytes",
                "concurrency"}}

serve: loads the component (compiled cache: runtime/compiled.py), binds, then prints ONE line
    {"type": "ready", "port", "pid", "load_ms", "compiled_from_cache"}
and from then on only JSON lines on stdout:
    {"type": "log", "time", "stream": "stdout"|"stderr", "invocation_id", "message"}
        one per line the guest prints (and the host's notes on its behalf, on stderr);
    {"type": "invocation", "time", "invocation_id", "method", "path", "status",
     "duration_ms", "error_code"}  one per request to the component.
    The host's own diagnostics go to stderr. A load failure exits with status 3 before
    "ready" (the reason on stderr); a bad config exits with status 2.
    HTTP: every method and path goes to the component (matched against the locked app's
    route), except `/.well-known/spin/health` (200 "OK") and `/.well-known/spin/info` (the
    app's name/version as JSON), as Spin's HTTP trigger. `X-Invocation-Id` is kept when sent,
    else made; every answer carries it. Failures of ours are application/problem+json:
    FUNCTION_TIMEOUT 504, FUNCTION_MEMORY_LIMIT 500, FUNCTION_ERROR 500 (a trap; a guest
    exception keeps spin-sdk's own 500), REQUEST_TOO_LARGE 413, RESPONSE_TOO_LARGE 502.
    SIGTERM/SIGINT: stop accepting, finish the requests in flight (bounded by the time
    limit + 2 s), exit 0.
once: reads one request {"method", "path", "headers", "body", "body_encoding"} on stdin,
    runs it with the same limits and prints one TestInvocationResult (docs/contract.md);
    exits 0 whatever the function did (COMPONENT_INVALID when it cannot be loaded).
"""

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from pydantic import ValidationError
from wasmtime import Engine

from infra_service.runtime import once
from infra_service.runtime.allowed_hosts import AllowedHostError
from infra_service.runtime.app import AppServices
from infra_service.runtime.compiled import CompileError, engine_config, load_component
from infra_service.runtime.events import EventWriter
from infra_service.runtime.http_server import ReplicaApp, serve
from infra_service.runtime.invocation import Runner
from infra_service.runtime.linking import ComponentError
from infra_service.runtime.manifest import ManifestError, component_manifest
from infra_service.runtime.replica import ReplicaConfig, load_config

log = logging.getLogger("infra_service.runtime.host")
LOAD_ERRORS = (CompileError, ComponentError, ManifestError, AllowedHostError, OSError)


@dataclass
class Loaded:
    runner: Runner
    app: AppServices
    load_ms: float
    from_cache: bool

    def close(self) -> None:
        self.runner.close()
        self.app.close()


def load(config: ReplicaConfig) -> Loaded:
    """Engine, component (from the compiled cache when possible), linker and app services."""
    started = time.monotonic()
    engine = Engine(engine_config())
    component, from_cache = load_component(
        engine,
        wasm=config.component,
        sha256=config.component_sha256,
        cache_dir=config.compiled_cache_dir,
    )
    manifest = component_manifest(config.locked_app, fallback_name=config.app.name)
    app = AppServices(
        manifest=manifest,
        values=config.variables,
        kv_dir=config.kv_dir,
        max_outbound_response_bytes=config.limits.max_response_bytes,
    )
    runner = Runner(engine=engine, component=component, app=app, limits=config.limits)
    load_ms = round((time.monotonic() - started) * 1000, 1)
    return Loaded(runner=runner, app=app, load_ms=load_ms, from_cache=from_cache)


def _serve(config: ReplicaConfig) -> int:
    try:
        loaded = load(config)
    except LOAD_ERRORS as exc:
        log.error("cannot load %s: %s", config.component, exc)
        return 3
    events = EventWriter()
    app = ReplicaApp(runner=loaded.runner, app=loaded.app, config=config, events=events)

    def ready(port: int) -> None:
        events.emit(
            {
                "type": "ready",
                "port": port,
                "pid": os.getpid(),
                "load_ms": loaded.load_ms,
                "compiled_from_cache": loaded.from_cache,
            }
        )
        log.info(
            "%s/%s %s ready on port %d", config.app.namespace, config.app.name, config.replica, port
        )

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(app=app, config=config, on_ready=ready))
    finally:
        app.close()
        loaded.close()
    log.info("%s stopped", config.replica)
    return 0


def _once(config: ReplicaConfig) -> int:
    try:
        request = once.parse_request(sys.stdin.buffer.read())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        loaded = load(config)
    except LOAD_ERRORS as exc:
        document = once.failure(
            status=500, code="COMPONENT_INVALID", title="Component cannot be run", detail=str(exc)
        )
    else:
        try:
            document = once.run_once(
                runner=loaded.runner,
                manifest=loaded.app.manifest,
                limits=config.limits,
                request=request,
            )
        finally:
            loaded.close()
    sys.stdout.write(once.dumps(document) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra_service.runtime.host")
    parser.add_argument("mode", choices=["serve", "once"])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        config = load_config(args.config)
    except (OSError, ValidationError) as exc:
        print(f"invalid replica config {args.config}: {exc}", file=sys.stderr)
        return 2
    return _serve(config) if args.mode == "serve" else _once(config)


if __name__ == "__main__":
    sys.exit(main())

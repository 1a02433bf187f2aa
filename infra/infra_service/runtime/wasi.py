"""wasi:cli, clocks, random and filesystem: what a Python guest needs, nothing of the host's."""

import os
import random
import time
from collections.abc import Callable
from typing import Any

from infra_service.runtime.context import GuestExit, HostTrap, Invocation
from infra_service.runtime.io import InputStream, LogOutput, Pollable, Timer
from infra_service.runtime.wit_values import Ok

MAX_RANDOM_BYTES = 1024 * 1024
_insecure = random.Random()  # the guest's "insecure" randomness must not be the host's own


def _exit(inv: Invocation, status: Any) -> None:
    raise GuestExit(isinstance(status, Ok))


def _random_bytes(inv: Invocation, size: int) -> bytes:
    if size > MAX_RANDOM_BYTES:
        raise HostTrap(f"asked for {size} random bytes; at most {MAX_RANDOM_BYTES} at a time")
    return os.urandom(size)


def _insecure_bytes(inv: Invocation, size: int) -> bytes:
    if size > MAX_RANDOM_BYTES:
        raise HostTrap(f"asked for {size} random bytes; at most {MAX_RANDOM_BYTES} at a time")
    return _insecure.randbytes(size)


def _subscribe_duration(inv: Invocation, nanoseconds: int) -> Pollable:
    return Timer(time.monotonic_ns() + nanoseconds)


def _wall_now(inv: Invocation) -> dict[str, int]:
    now = time.time_ns()
    return {"seconds": now // 1_000_000_000, "nanoseconds": now % 1_000_000_000}


FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "wasi:cli/environment@0.2.0": {
        "get-environment": lambda inv: inv.app.environment,
        "get-arguments": lambda inv: [],
        "initial-cwd": lambda inv: None,
    },
    "wasi:cli/exit@0.2.0": {"exit": _exit},
    "wasi:cli/stdin@0.2.0": {"get-stdin": lambda inv: InputStream()},
    "wasi:cli/stdout@0.2.0": {"get-stdout": lambda inv: LogOutput("stdout")},
    "wasi:cli/stderr@0.2.0": {"get-stderr": lambda inv: LogOutput("stderr")},
    "wasi:cli/terminal-stdin@0.2.0": {"get-terminal-stdin": lambda inv: None},
    "wasi:cli/terminal-stdout@0.2.0": {"get-terminal-stdout": lambda inv: None},
    "wasi:cli/terminal-stderr@0.2.0": {"get-terminal-stderr": lambda inv: None},
    "wasi:clocks/monotonic-clock@0.2.0": {
        "now": lambda inv: time.monotonic_ns(),
        "resolution": lambda inv: 1,
        "subscribe-instant": lambda inv, at: Timer(at),
        "subscribe-duration": _subscribe_duration,
    },
    "wasi:clocks/wall-clock@0.2.0": {
        "now": _wall_now,
        "resolution": lambda inv: {"seconds": 0, "nanoseconds": 1},
    },
    "wasi:random/random@0.2.0": {
        "get-random-bytes": _random_bytes,
        "get-random-u64": lambda inv: int.from_bytes(os.urandom(8), "little"),
    },
    "wasi:random/insecure@0.2.0": {
        "get-insecure-random-bytes": _insecure_bytes,
        "get-insecure-random-u64": lambda inv: _insecure.getrandbits(64),
    },
    "wasi:random/insecure-seed@0.2.0": {
        "insecure-seed": lambda inv: (_insecure.getrandbits(64), _insecure.getrandbits(64)),
    },
    # No preopened directories: the guest sees no filesystem, so no descriptor ever exists.
    "wasi:filesystem/preopens@0.2.0": {"get-directories": lambda inv: []},
    "wasi:filesystem/types@0.2.0": {"filesystem-error-code": lambda inv, error: None},
}

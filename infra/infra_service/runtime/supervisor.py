"""Component hosts: one OS process per app replica, watched, restarted when it dies, stopped.

A host is `<host command> serve --config <replica>.json` (runtime/host.py). It prints one
JSON line `{"type": "ready", "port": …}` once loaded, then log and invocation lines; its
stderr is diagnostics, of which the last lines are kept to explain a failure. A replica is
ready when its health route answers 200. Each host runs in its own session (a process group
the supervisor signals as a whole) with PR_SET_PDEATHSIG, so that no host outlives the
service, even one killed with SIGKILL.
"""

import asyncio
import contextlib
import contextvars
import ctypes
import functools
import json
import logging
import os
import resource
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from infra_service.runtime.store import AppKey

log = logging.getLogger(__name__)

HEALTH_PATH = "/.well-known/spin/health"
STDERR_LINES = 40
STABLE_SECONDS = 30.0  # a host that stayed ready this long restarts without backoff
LIVENESS_FAILURES = 3
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

LogSink = Callable[[dict[str, Any]], None]


def child_setup(parent: int) -> None:
    """Runs in the forked child before exec: die with the service, no core dumps."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the service died between fork and prctl
        os._exit(1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def poll_until(
    condition: Callable[[], bool], *, every: float, deadline: float | None = None
) -> bool:
    """Wait until `condition()` holds (True) or the monotonic deadline passes (False).

    For state that changes without an event to wait on: a process, a counter, a socket.
    """
    while not condition():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)
    return True


def describe_exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def reap_leftovers(folder: Path) -> int:
    """Kill hosts a previous service left behind (their pid files name them); how many."""
    killed = 0
    for pid_file in folder.glob("*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            config = str(pid_file.with_suffix(".json"))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if config.encode() in cmdline:
                _signal_group(pid, signal.SIGKILL)
                killed += 1
        pid_file.unlink(missing_ok=True)
    return killed


class Replica:
    """One supervised host process and what the gateway needs to route to it."""

    def __init__(
        self,
        *,
        key: AppKey,
        replica_id: str,
        config_path: Path,
        command: list[str],
        env: dict[str, str],
        http: httpx.AsyncClient,
        on_log: LogSink,
        backoff: tuple[float, float],
        health_interval: float,
    ) -> None:
        self.key = key
        self.id = replica_id
        self.config_path = config_path
        self._command = command
        self._env = env
        self._http = http
        self._on_log = on_log
        self._backoff = backoff
        self._health_interval = health_interval
        self.port: int | None = None
        self.ready = False
        self.draining = False  # the gateway sends it nothing new
        self.in_flight = 0
        self.pid: int | None = None
        self.starts = 0
        self.exits_before_ready = 0  # consecutive exits that never reached ready
        self.last_exit: str | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self.load_ms: float | None = None
        self.compiled_from_cache: bool | None = None
        self._stopping = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready_since = 0.0

    @property
    def incarnation(self) -> str:
        """This replica's current process (a restarted host is a new incarnation)."""
        return f"{self.id}#{self.starts}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def pid_path(self) -> Path:
        return self.config_path.with_suffix(".pid")

    def start(self) -> None:
        """Run (and re-run) the host until stop()."""
        # A fresh context: the replica outlives the deploy job that started it, and its log
        # lines must not carry that job's id.
        self._task = asyncio.create_task(
            self._supervise(), name=f"replica {self.key}/{self.id}", context=contextvars.Context()
        )

    async def stop(self, *, grace: float) -> None:
        """SIGTERM the host (it drains), SIGKILL its group after `grace` seconds."""
        self._stopping.set()
        self.ready = False
        if self._task is None:
            return
        deadline = time.monotonic() + grace
        signalled: int | None = None
        # Signal whichever process is current until the supervising task ends: it may be
        # spawning one right now.
        while not self._task.done():
            process = self._process
            if process is not None and process.returncode is None:
                if signalled != process.pid:
                    _signal_group(process.pid, signal.SIGTERM)
                    signalled = process.pid
                elif time.monotonic() > deadline:
                    log.warning("replica %s/%s ignored SIGTERM; killing it", self.key, self.id)
                    _signal_group(process.pid, signal.SIGKILL)
            await asyncio.wait([self._task], timeout=0.05)
        if self._process is not None:
            _signal_group(self._process.pid, signal.SIGKILL)  # anything the host itself started
        await asyncio.gather(self._task, return_exceptions=True)

    def failure_reason(self) -> str:
        """What the host said last: its exit and its stderr tail."""
        tail = "\n".join(self.stderr_tail).strip()[-2000:]
        state = self.last_exit or (
            "still loading" if self.port is None else "not answering its health route"
        )
        return f"replica {self.id}: {state}" + (f"; stderr:\n{tail}" if tail else "")

    async def _supervise(self) -> None:
        delay = self._backoff[0]
        while not self._stopping.is_set():
            code = await self._run_once()
            if self._stopping.is_set():
                break
            stable = self._ready_since and time.monotonic() - self._ready_since > STABLE_SECONDS
            delay = self._backoff[0] if stable else delay
            self.last_exit = describe_exit(code)
            log.warning(
                "app %s replica %s: host %s; restarting in %.1f s",
                self.key, self.id, self.last_exit, delay,
            )  # fmt: skip
            self._on_log(
                {
                    "stream": "stderr",
                    "message": f"[runtime] replica {self.id} stopped ({self.last_exit}); "
                    f"restarting in {delay:.1f} s",
                }
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._backoff[1])

    async def _run_once(self) -> int:
        self.starts += 1
        self.port, self.ready, self._ready_since = None, False, 0.0
        loaded = asyncio.Event()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command,
                "serve",
                "--config",
                str(self.config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                start_new_session=True,
                preexec_fn=functools.partial(child_setup, os.getpid()),
                limit=1024 * 1024,
            )
        except OSError as exc:  # the host command itself is missing or not executable
            self.stderr_tail.append(f"cannot start the host {self._command[0]}: {exc}")
            self.exits_before_ready += 1
            return 127  # fmt: skip
        self._process, self.pid = process, process.pid
        self.pid_path.write_text(str(process.pid))
        assert process.stdout is not None and process.stderr is not None
        tasks = [
            asyncio.create_task(self._read_stdout(process.stdout, loaded)),
            asyncio.create_task(self._read_stderr(process.stderr)),
        ]
        try:
            exited = asyncio.create_task(process.wait())
            loading = asyncio.create_task(loaded.wait())
            await asyncio.wait([exited, loading], return_when=asyncio.FIRST_COMPLETED)
            loading.cancel()
            if loaded.is_set() and not exited.done():
                tasks.append(asyncio.create_task(self._probe(process)))
            code = await exited
        finally:
            self.ready = False
            for task in tasks[2:]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.pid_path.unlink(missing_ok=True)
        if not self._ready_since:
            self.exits_before_ready += 1
        return code

    async def _read_stdout(self, stream: asyncio.StreamReader, loaded: asyncio.Event) -> None:
        """The host's JSON lines until EOF: the ready line, then logs."""
        async for line in _lines(stream):
            message = _json_line(line)
            if message is not None and message.get("type") == "ready" and not loaded.is_set():
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self.port = int(message["port"])
                    self.load_ms = message.get("load_ms")
                    self.compiled_from_cache = message.get("compiled_from_cache")
                    loaded.set()
                continue
            self._handle(message, line)

    def _handle(self, message: dict[str, Any] | None, line: str) -> None:
        if message is None:  # not JSON: the host (or a library) printed to stdout
            self._on_log({"stream": "stdout", "message": line, "replica": self.id})
        elif message.get("type") == "log":
            stream = message.get("stream") if message.get("stream") == "stderr" else "stdout"
            self._on_log(
                {
                    "time": message.get("time"),
                    "replica": self.id,
                    "stream": stream,
                    "invocation_id": message.get("invocation_id"),
                    "message": str(message.get("message", "")),
                }
            )

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in _lines(stream):
            self.stderr_tail.append(line[:1000])
            log.info("host %s/%s: %s", self.key, self.id, line[:2000])

    async def _probe(self, process: asyncio.subprocess.Process) -> None:
        """Readiness (health answers 200), then liveness: kill a host that stops answering."""
        url = f"http://127.0.0.1:{self.port}{HEALTH_PATH}"
        while not await self._healthy(url, wait=2.0):  # noqa: ASYNC110 (a socket, not an event)
            await asyncio.sleep(0.05)
        self.ready, self._ready_since, self.exits_before_ready = True, time.monotonic(), 0
        self.last_exit = None
        failures = 0
        while True:
            await asyncio.sleep(self._health_interval)
            failures = 0 if await self._healthy(url, wait=5.0) else failures + 1
            if failures >= LIVENESS_FAILURES:
                log.warning("app %s replica %s stopped answering; killing it", self.key, self.id)
                self.ready = False
                _signal_group(process.pid, signal.SIGKILL)
                return

    async def _healthy(self, url: str, *, wait: float) -> bool:
        try:
            response = await self._http.get(url, timeout=wait)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


async def _lines(stream: asyncio.StreamReader) -> Any:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the reader's limit: dropped, the stream goes on
            continue
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def _json_line(line: str) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        value = json.loads(line)
        if isinstance(value, dict):
            return value
    return None

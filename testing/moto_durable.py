"""moto's S3 and ECR as a server whose state survives a restart: snapshots on disk.

    python -m testing.moto_durable --port 4566 --snapshot .data/moto/snapshot.pickle

moto keeps everything in memory and has no persistence API, so this process runs moto's server
in-process and pickles its S3 and ECR backends: a few seconds after the last change, and on
SIGTERM/SIGINT. Object bodies go to files of their own beside the snapshot (`objects/`, each
written once, when the snapshot first sees it), so a snapshot holds metadata only and stays
small however many 40 MB components the store holds. The snapshot file is replaced atomically
(a temporary file, fsync, rename) and loaded at start. A snapshot that cannot be loaded
(damaged, a body missing, or written by another moto version) means an empty S3 and ECR, said
plainly in the log; the file is kept aside as `<name>.bad`.

This leans on moto internals (the backends' object graph, S3's FakeKey), hence the pinned moto.
Requests share a gate that a snapshot takes alone, so a snapshot never sees half a request.
What a `kill -9` loses: the changes of the last `--interval` seconds.
"""

import argparse
import io
import json
import logging
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import moto
from moto.backends import get_backend
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.s3.models import FakeKey
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

log = logging.getLogger("moto-durable")

SERVICES = ("s3", "ecr")
FORMAT = 2
STATUS_PATH = "/_stack/snapshot"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_LOCK_TYPES = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


_BODY_ATTRIBUTE = "_durable_body"  # the file name of a FakeKey's body, kept on the key
_CHUNK = 1 << 20


def _restore_key(cls: type, state: dict[str, Any], bodies: str) -> FakeKey:
    """A FakeKey from its pickled attributes and its body file (streamed, never all in memory)."""
    key = cls.__new__(cls)
    key.__dict__.update(state)
    key.lock = threading.Lock()
    key._value_buffer = tempfile.SpooledTemporaryFile(max_size=key._max_buffer_size)  # noqa: SIM115 (the key owns it)
    if state[_BODY_ATTRIBUTE] is not None:
        with (Path(bodies) / state[_BODY_ATTRIBUTE]).open("rb") as body:
            shutil.copyfileobj(body, key._value_buffer, _CHUNK)
    return key


class _Pickler(pickle.Pickler):
    """Pickles moto's state; S3 object bodies become files in `bodies`, named on the key."""

    def __init__(self, file: io.BytesIO, bodies: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.bodies = bodies
        self.bodies_seen: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, FakeKey):
            return self._reduce_key(obj)
        # moto's backends hold a few thread locks; a restored backend gets fresh ones.
        factory = _LOCK_TYPES.get(type(obj))
        return (factory, ()) if factory else NotImplemented

    def _reduce_key(self, key: FakeKey) -> Any:
        # A FakeKey's body never changes once it is made (moto writes it in __init__ only), so
        # its file is written once, the first time a snapshot meets the key.
        state = {k: v for k, v in key.__dict__.items() if k not in ("lock", "_value_buffer")}
        if key._value_buffer.closed:
            # moto closes the body of a key it has let go of (a completed upload's parts) and
            # may still reference the key: it comes back empty, as moto's own pickling does.
            state[_BODY_ATTRIBUTE] = None
            return (_restore_key, (type(key), state, str(self.bodies)))
        name = key.__dict__.get(_BODY_ATTRIBUTE)
        if name is None:
            name = state[_BODY_ATTRIBUTE] = key.__dict__[_BODY_ATTRIBUTE] = uuid.uuid4().hex
        path = self.bodies / name
        if not path.exists():
            temporary = path.with_name(f".{name}.tmp")
            with key.lock, temporary.open("wb") as file:
                key._value_buffer.seek(0)
                shutil.copyfileobj(key._value_buffer, file, _CHUNK)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        self.bodies_seen.add(name)
        return (_restore_key, (type(key), state, str(self.bodies)))


class Gate:
    """Many requests at once, or one snapshot alone (a snapshot waits for requests to finish)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._requests = 0
        self._snapshot = False

    def enter_request(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: not self._snapshot)
            self._requests += 1

    def leave_request(self) -> None:
        with self._condition:
            self._requests -= 1
            self._condition.notify_all()

    def enter_snapshot(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: not self._snapshot)
            self._snapshot = True  # new requests wait from here on
            self._condition.wait_for(lambda: self._requests == 0)

    def leave_snapshot(self) -> None:
        with self._condition:
            self._snapshot = False
            self._condition.notify_all()


# What every BackendDict has; anything else on one (S3's bucket → account map) is state.
_BACKEND_DICT_BASICS = frozenset(
    {"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"}
)


def _state() -> dict[str, Any]:
    state: dict[str, Any] = {}
    for service in SERVICES:
        backends = get_backend(service)
        state[service] = {
            "accounts": {account: dict(regions.items()) for account, regions in backends.items()},
            "attributes": {
                name: value
                for name, value in vars(backends).items()
                if name not in _BACKEND_DICT_BASICS
            },
        }
    return state


def _install(state: dict[str, Any]) -> None:
    for service, saved in state.items():
        backends = get_backend(service)
        for account, regions in saved["accounts"].items():
            for region, backend in regions.items():
                dict.__setitem__(backends[account], region, backend)
        for name, value in saved["attributes"].items():
            setattr(backends, name, value)


def _summary(state: dict[str, Any]) -> str:
    buckets = objects = repositories = 0
    for regions in state["s3"]["accounts"].values():
        for backend in regions.values():
            buckets += len(backend.buckets)
            objects += sum(len(bucket.keys) for bucket in backend.buckets.values())
    for regions in state["ecr"]["accounts"].values():
        for backend in regions.values():
            repositories += len(backend.repositories)
    return f"{buckets} buckets, {objects} objects, {repositories} ECR repositories"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Snapshots:
    """Saves and restores moto's S3 and ECR backends as one pickle file."""

    def __init__(self, path: Path, gate: Gate) -> None:
        self.path = path
        self.bodies = path.with_name("objects")
        self._gate = gate
        self._save_lock = threading.Lock()
        self._changes = 0  # requests that may have changed something, ever
        self._saved_changes = 0  # how many of them the file on disk holds
        self.saved_at: float | None = None

    @property
    def dirty(self) -> bool:
        """True until every change made so far is in the file on disk."""
        return self._changes != self._saved_changes

    def mark_dirty(self) -> None:
        self._changes += 1  # under the gate: no snapshot runs meanwhile

    def load(self) -> None:
        """Restore the last snapshot, or start empty (saying why)."""
        if not self.path.exists():
            log.info("no snapshot at %s: S3 and ECR start empty", self.path)
            return
        try:
            with self.path.open("rb") as file:
                header = pickle.load(file)
                if header.get("format") != FORMAT or header.get("moto") != moto.__version__:
                    raise ValueError(
                        f"written by moto {header.get('moto')} (format {header.get('format')}); "
                        f"this is moto {moto.__version__}"
                    )
                state = pickle.load(file)
            _install(state)
        except Exception as exc:  # any damage at all means the same: an empty start
            bad = self.path.with_name(self.path.name + ".bad")
            os.replace(self.path, bad)
            log.error(
                "the snapshot %s could not be loaded (%s: %s): S3 and ECR start EMPTY; "
                "the file is kept as %s",
                self.path,
                type(exc).__name__,
                exc,
                bad,
            )
            return
        log.info(
            "restored S3 and ECR from %s (%s; written %s)",
            self.path,
            _summary(state),
            header.get("written_at"),
        )

    def save(self) -> None:
        """Write a snapshot now (requests wait while the state is pickled)."""
        with self._save_lock:
            buffer = io.BytesIO()
            started = time.monotonic()
            self.bodies.mkdir(parents=True, exist_ok=True)
            header = {
                "format": FORMAT,
                "moto": moto.__version__,
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            pickle.dump(header, buffer, protocol=pickle.HIGHEST_PROTOCOL)
            pickler = _Pickler(buffer, self.bodies)
            self._gate.enter_snapshot()
            try:
                changes = self._changes
                state = _state()
                pickler.dump(state)
                summary = _summary(state)
            finally:
                self._gate.leave_snapshot()
            write_atomically(self.path, buffer.getvalue())
            self._saved_changes = changes
            # Only now that the new snapshot is in place: bodies it no longer names can go.
            for body in self.bodies.iterdir():
                if body.name not in pickler.bodies_seen:
                    body.unlink()
            self.saved_at = time.time()
            log.debug(
                "snapshot written: %s, %.1f MB in %.0f ms",
                summary,
                buffer.tell() / 1e6,
                (time.monotonic() - started) * 1000,
            )

    def run_periodically(self, interval: float, stop: threading.Event) -> None:
        """Save whenever something changed, at most every `interval` seconds, until `stop`."""
        while not stop.wait(interval):
            if self.dirty:
                try:
                    self.save()
                except Exception:
                    log.exception("writing the snapshot failed; trying again in %.0f s", interval)


def gated_app(app: Callable, gate: Gate, snapshots: Snapshots) -> Callable:
    """moto's WSGI app behind the gate; writes mark the state dirty; a status route."""

    def wsgi(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATUS_PATH:
            body = json.dumps(
                {
                    "dirty": snapshots.dirty,
                    "saved_at": snapshots.saved_at,
                    "path": str(snapshots.path),
                }
            ).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        gate.enter_request()
        try:
            if environ.get("REQUEST_METHOD") not in READ_METHODS:
                snapshots.mark_dirty()
            # moto's answers are complete in memory: drain them inside the gate.
            return list(app(environ, start_response))
        finally:
            gate.leave_request()

    return wsgi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between snapshots")
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("MOTO_LOG_LEVEL", "INFO"),
        format="%(asctime)s moto %(levelname)s %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    gate = Gate()
    snapshots = Snapshots(args.snapshot, gate)
    snapshots.load()
    app = gated_app(DomainDispatcherApplication(create_backend_app), gate, snapshots)
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()
    saving = threading.Thread(
        target=snapshots.run_periodically, args=(args.interval, stop), name="snapshots"
    )
    saving.start()
    log.info("S3 and ECR on http://127.0.0.1:%d (snapshot %s)", args.port, args.snapshot)
    stop.wait()
    server.shutdown()
    saving.join()
    snapshots.save()
    log.info("stopped; snapshot written to %s", args.snapshot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

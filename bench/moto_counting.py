"""A moto server (S3, ECR; DynamoDB is DynamoDB Local) on 127.0.0.1 counting its requests.

    python bench/moto_counting.py --port 4566 [--parent-pid PID]

`GET /_bench/counts` answers {"dynamodb:Query": 12, "s3:PUT": 3, ...}; `POST /_bench/reset`
zeroes them; `GET /_bench/first-seen` answers when (epoch seconds) each kind was first seen
since the last reset. With `--parent-pid` the server exits by itself once that process is gone, so a
benchmark that dies never leaves it behind.
"""

import argparse
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class CountingApp:
    """WSGI middleware: one count per request, by DynamoDB operation or S3 method."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._first_seen: dict[str, float] = {}  # name → time.time() of its first request

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self._control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            name = "dynamodb:" + target.split(".", 1)[1]
        elif target:
            name = "other:" + target
        else:
            name = "s3:" + environ.get("REQUEST_METHOD", "?")
        with self._lock:
            self._counts[name] += 1
            self._first_seen.setdefault(name, time.time())
        return self._app(environ, start_response)

    def _control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            if environ["PATH_INFO"] == "/_bench/first-seen":
                body = json.dumps(self._first_seen).encode()
            else:
                body = json.dumps(dict(self._counts)).encode()
            if environ["PATH_INFO"] == "/_bench/reset":
                self._counts.clear()
                self._first_seen.clear()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    if args.parent_pid:
        threading.Thread(target=_exit_with_parent, args=(args.parent_pid,), daemon=True).start()
    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, True, request_handler=MotoRequestHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()

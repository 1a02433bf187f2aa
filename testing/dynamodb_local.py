"""DynamoDB Local (AWS's own emulator) on 127.0.0.1: the command, a process for tests, a reset.

`make dynamodb-local` installs it under .tools/dynamodb-local (scripts/dynamodb_local/install.sh)
and compiles the launcher that binds loopback only. `make run` keeps its data in a directory
(one SQLite file, shared by every client); the tests run it in memory, one per session, and
reset it by deleting every table (a CreateTable takes milliseconds there).
"""

import atexit
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from testing.moto import FAKE_CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".tools" / "dynamodb-local"
LAUNCHER = "LoopbackDynamoDBLocal"
IN_MEMORY = ":memory:"


class DynamoDBLocalMissing(RuntimeError):
    """The emulator is not installed; `make dynamodb-local` installs it."""


def command(
    port: int, data_dir: Path | None, *, quick_start: bool = False, count_requests: bool = False
) -> list[str]:
    """The java command line serving DynamoDB Local on 127.0.0.1:`port` (in memory if no dir).

    `quick_start` (the tests) trades peak speed for a start about a second shorter: the JIT's
    first tier only. `count_requests` (the benchmarks) serves counts by operation at /_counts.
    """
    if not (HOME / "launcher" / f"{LAUNCHER}.class").is_file():
        raise DynamoDBLocalMissing(
            f"DynamoDB Local is not installed in {HOME}: run `make dynamodb-local`"
        )
    classpath = os.pathsep.join(
        [
            str(HOME / "launcher"),
            str(HOME / "DynamoDBLocal.jar"),
            str(HOME / "DynamoDBLocal_lib" / "*"),
        ]
    )
    return [
        "java",
        # An IPv4 socket: what listens shows up plainly in /proc/net/tcp.
        "-Djava.net.preferIPv4Stack=true",
        f"-Djava.library.path={HOME / 'DynamoDBLocal_lib'}",
        # One collector thread, a small heap: the tables of a local stack are small.
        "-Xms64m",
        "-XX:+UseSerialGC",
        *(["-XX:TieredStopAtLevel=1"] if quick_start else []),
        "-cp",
        classpath,
        LAUNCHER,
        str(port),
        str(data_dir) if data_dir is not None else IN_MEMORY,
        *(["--count-requests"] if count_requests else []),
    ]


def environment() -> dict[str, str]:
    """The emulator's environment: no usage telemetry (it would try to reach AWS)."""
    return {**os.environ, "DDB_LOCAL_TELEMETRY": "0"}


def wait_until_serving(endpoint: str, process: subprocess.Popen | None, timeout: float) -> None:
    """Return once `endpoint` answers a DynamoDB request; raise if the process died first."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        endpoint,
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered: serving
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"DynamoDB Local did not answer at {endpoint}") from None
            time.sleep(0.1)


@contextmanager
def running_dynamodb_local(
    data_dir: Path | None = None,
    *,
    port: int | None = None,
    log: Path | None = None,
    quick_start: bool = True,
) -> Iterator[str]:
    """Start DynamoDB Local on 127.0.0.1 and yield its endpoint URL; stop it afterwards."""
    port = port or free_port()
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command(port, data_dir, quick_start=quick_start),
        env=environment(),
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(endpoint, process, timeout=60)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            output.close()  # type: ignore[union-attr]


_clients: dict[str, Any] = {}


def client(endpoint: str) -> Any:
    """A boto3 DynamoDB client for `endpoint`, made once (clients are slow to build)."""
    if endpoint not in _clients:
        _clients[endpoint] = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
    return _clients[endpoint]


def reset_dynamodb(endpoint: str) -> None:
    """Delete every table (DynamoDB Local deletes at once; no waiter needed)."""
    dynamodb = client(endpoint)
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            dynamodb.delete_table(TableName=name)


_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


def shared_dynamodb_local() -> str:
    """The endpoint of this process's one in-memory DynamoDB Local, started on first use."""
    with _shared_lock:
        if "endpoint" not in _shared:
            context = running_dynamodb_local()
            _shared["endpoint"] = context.__enter__()
            atexit.register(context.__exit__, None, None, None)
        return _shared["endpoint"]


def reset_shared_dynamodb_local() -> None:
    """Delete every table of the shared DynamoDB Local, if this process has started it."""
    with _shared_lock:
        endpoint = _shared.get("endpoint")
    if endpoint is not None:
        reset_dynamodb(endpoint)

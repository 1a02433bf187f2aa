"""moto in server mode: a real HTTP endpoint on loopback for DynamoDB, S3, ECR, CloudFormation."""

import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_moto(port: int | None = None) -> Iterator[str]:
    """Start a moto server on 127.0.0.1 and yield its endpoint URL; stop it afterwards."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or free_port(), verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Forget every resource the server holds (moto's reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass

"""A local OIDC issuer: RSA keys generated here, the JWKS served over HTTP on loopback."""

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app.config import Settings
from tests.conftest import with_overrides
from tests.tasks.conftest import running_backend

CLIENT_ID = "frontend-client"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    url: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    jwks_requests: int = 0

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid, key in self.keys.items():
            entry = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            entries.append(entry | {"kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": entries}

    def token(
        self,
        subject: str,
        *,
        kid: str = "key-1",
        key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """A Cognito-style access token; `claims` override the defaults."""
        now = int(time.time())
        body = {
            "sub": subject,
            "iss": self.url,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        } | claims
        signing_key = key or self.keys[kid]
        return jwt.encode(body, signing_key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    state = Issuer(url="", keys={"key-1": _new_key()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/jwks.json":
                self.send_error(404)
                return
            state.jwks_requests += 1
            body = json.dumps(state.jwks()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def jwt_settings(settings: Settings, issuer: Issuer) -> Settings:
    return with_overrides(
        settings,
        auth_mode="jwt",
        oidc_issuer=issuer.url,
        oidc_client_ids=[CLIENT_ID],
        pollers_enabled=False,
    )


@pytest.fixture
async def secured(jwt_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_backend(jwt_settings) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AsUser = Callable[[str], dict[str, str]]


@pytest.fixture
def as_user(issuer: Issuer) -> AsUser:
    """Headers of a request made by user `name`."""
    return lambda name: bearer(issuer.token(name))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return _new_key()

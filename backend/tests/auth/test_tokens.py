"""Bearer tokens: what is accepted and what is refused with 401 problem+json."""

import base64
import json
import time

import httpx
import jwt
import pytest

from tests.auth.conftest import CLIENT_ID, Issuer, bearer, new_rsa_key


async def test_a_valid_access_token_is_accepted(secured: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await secured.get("/api/workspaces", headers=bearer(issuer.token("alice")))
    assert response.status_code == 200
    assert response.json()["items"] == []


def _unsigned(issuer: Issuer) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"sub": "alice", "iss": issuer.url, "client_id": CLIENT_ID, "token_use": "access",
              "exp": now + 600}  # fmt: skip
    return f"{part({'alg': 'none', 'kid': 'key-1'})}.{part(claims)}."


CASES = {
    "expired": lambda i: i.token("alice", exp=int(time.time()) - 3600),
    "wrong issuer": lambda i: i.token("alice", iss="https://evil.example"),
    "wrong client": lambda i: i.token("alice", client_id="another-client"),
    "id token instead of access token": lambda i: i.token("alice", token_use="id"),
    "bad signature": lambda i: i.token("alice", key=new_rsa_key()),
    "unknown kid": lambda i: i.token("alice", kid="key-404", key=new_rsa_key()),
    "alg none": _unsigned,
    "hs256 with the public key as secret": lambda i: jwt.encode(
        {
            "sub": "alice",
            "iss": i.url,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "exp": int(time.time()) + 600,
        },
        "not-the-rsa-key-but-a-shared-secret-of-32-bytes",
        algorithm="HS256",
        headers={"kid": "key-1"},
    ),
    "garbage": lambda i: "not.a.token",
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_tokens_are_refused_with_401(
    secured: httpx.AsyncClient, issuer: Issuer, case: str
) -> None:
    response = await secured.get("/api/workspaces", headers=bearer(CASES[case](issuer)))
    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "INVALID_TOKEN"


async def test_a_missing_token_is_refused_before_the_body_is_read(
    secured: httpx.AsyncClient,
) -> None:
    sent = 0

    async def body():
        nonlocal sent
        for _ in range(100):
            sent += 65536
            yield b"x" * 65536

    response = await secured.post(
        "/api/v1/build", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "MISSING_TOKEN"
    assert sent <= 65536
    assert (await secured.get("/api/workspaces")).status_code == 401
    basic = await secured.get("/api/workspaces", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


async def test_health_and_docs_need_no_token(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/health")).status_code == 200
    assert (await secured.get("/openapi.json")).status_code == 200


async def test_a_rotated_signing_key_is_fetched_on_first_sight(
    secured: httpx.AsyncClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await secured.get("/api/workspaces", headers=bearer(issuer.token("alice")))
    assert first.status_code == 200
    before = issuer.jwks_requests
    issuer.keys["key-2"] = new_rsa_key()
    try:
        token = issuer.token("alice", kid="key-2")
        # Within the refresh floor an unknown kid does not make the backend fetch again
        # (a flood of made-up kids cannot hammer the issuer)...
        assert (await secured.get("/api/workspaces", headers=bearer(token))).status_code == 401
        assert issuer.jwks_requests == before
        # ...after it, the first token with the new kid triggers one fetch and is accepted.
        monkeypatch.setattr("app.auth.jwt_verifier.MIN_REFRESH_SECONDS", 0.0)
        assert (await secured.get("/api/workspaces", headers=bearer(token))).status_code == 200
        assert issuer.jwks_requests == before + 1
    finally:
        del issuer.keys["key-2"]

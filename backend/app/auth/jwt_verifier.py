"""OIDC access tokens (Amazon Cognito user pools): RS256 checked against the issuer's JWKS.

The JWKS is fetched with the process's httpx client, cached, and fetched again when a token
names a key id the cache does not hold (keys rotate), at most once per `MIN_REFRESH_SECONDS`.
"""

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

MIN_REFRESH_SECONDS = 10.0
ALGORITHMS = ["RS256"]


class InvalidToken(Exception):
    """The token is not one this API accepts; the message says why (safe to show)."""


class JwtVerifier:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        issuer: str,
        jwks_url: str,
        client_ids: list[str],
        cache_seconds: float,
    ) -> None:
        self._http = http
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._client_ids = set(client_ids)
        self._cache_seconds = cache_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if self._keys and (
                age < MIN_REFRESH_SECONDS or (not force and age < self._cache_seconds)
            ):
                return
            try:
                response = await self._http.get(self._jwks_url, timeout=5.0)
                response.raise_for_status()
                keys = {}
                for entry in response.json().get("keys", []):
                    if entry.get("kty") == "RSA" and entry.get("kid"):
                        keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256").key
            except (httpx.HTTPError, ValueError, jwt.PyJWKError) as exc:
                log.warning("could not fetch the JWKS from %s: %r", self._jwks_url, exc)
                if not self._keys:
                    raise InvalidToken("the token issuer's keys are unavailable") from exc
                return
            self._keys, self._fetched_at = keys, time.monotonic()

    async def _key_for(self, kid: str) -> Any:
        if time.monotonic() - self._fetched_at > self._cache_seconds or not self._keys:
            await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)  # a rotated key
        if kid not in self._keys:
            raise InvalidToken("the token was signed with an unknown key")
        return self._keys[kid]

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not a JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("the token's algorithm is not accepted")
        key = await self._key_for(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token was issued by another issuer") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token's signature or claims are invalid") from exc
        if claims.get("token_use") != "access":
            raise InvalidToken("an access token is required (token_use must be 'access')")
        # Cognito access tokens carry the app client in `client_id`, other issuers in `aud`.
        audience = claims.get("client_id") or claims.get("aud")
        audiences = set(audience if isinstance(audience, list) else [audience])
        if not audiences & self._client_ids:
            raise InvalidToken("the token was issued to another client")
        return claims

"""API keys: `faas_<key id>_<secret>`, shown once, stored only as a SHA-256 hash."""

import hashlib
import hmac
import secrets

from app.ids import new_id

PREFIX = "faas_"


def new_key() -> tuple[str, str, str]:
    """(key id, the full key to show once, the hash to store)."""
    key_id = new_id()
    secret = secrets.token_urlsafe(32)
    full = f"{PREFIX}{key_id}_{secret}"
    return key_id, full, hash_secret(secret)


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a plain hash is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of something shaped like an API key, else None."""
    if not token.startswith(PREFIX):
        return None
    key_id, _, secret = token[len(PREFIX) :].partition("_")
    if len(key_id) != 26 or not secret:
        return None
    return key_id, secret


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)

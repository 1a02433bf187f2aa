"""Resolve the caller of a request from its bearer token, per the configured auth mode."""

import hmac
import logging

from app.auth import api_keys
from app.auth.jwt_verifier import InvalidToken, JwtVerifier
from app.auth.principal import ADMIN, ANONYMOUS, Principal
from app.config import Settings
from app.errors import Unauthorized
from app.storage.api_keys import ApiKeyRepository

log = logging.getLogger(__name__)


async def authenticate(
    *,
    token: str | None,
    settings: Settings,
    keys: ApiKeyRepository,
    verifier: JwtVerifier | None,
) -> Principal:
    """The principal a request acts for, or Unauthorized (401)."""
    if token and api_keys.parse(token):
        return await _api_key_principal(token, keys)
    if settings.auth_mode == "none":
        return ANONYMOUS
    if not token:
        raise Unauthorized("A bearer token is required", code="MISSING_TOKEN")
    if settings.auth_mode == "jwt":
        if verifier is None:
            raise Unauthorized("Token verification is not configured", code="INVALID_TOKEN")
        try:
            claims = await verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(f"Invalid token: {exc}", code="INVALID_TOKEN") from exc
        return Principal(subject=f"user:{claims['sub']}", kind="user")
    admin = settings.admin_api_key.get_secret_value() if settings.admin_api_key else ""
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return ADMIN
    raise Unauthorized("Invalid API key", code="INVALID_TOKEN")


async def _api_key_principal(token: str, keys: ApiKeyRepository) -> Principal:
    parsed = api_keys.parse(token)
    assert parsed is not None
    key_id, secret = parsed
    record = await keys.get(key_id=key_id)
    if record is None or not api_keys.matches(secret, record.secret_hash):
        raise Unauthorized("Invalid or revoked API key", code="INVALID_TOKEN")
    return Principal(subject=f"apikey:{key_id}", kind="api_key", workspace_id=record.workspace_id)

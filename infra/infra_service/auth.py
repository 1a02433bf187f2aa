"""Bearer-token authentication of the backend's calls (docs/contract.md)."""

import hmac
from typing import Annotated

from fastapi import Depends, Request

from infra_service.config import Settings
from infra_service.errors import Unauthorized


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_token(request: Request, settings: Annotated[Settings, Depends(settings_of)]) -> None:
    """Refuse a request whose bearer token is missing or wrong (compared in constant time)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token: send `Authorization: Bearer <token>`.")
    expected = settings.service_token.get_secret_value().encode()
    if not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("The bearer token is not valid for this service.")


Authenticated = Depends(require_token)

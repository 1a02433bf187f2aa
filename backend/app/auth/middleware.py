"""Authenticate every /api request before its body is read (an ASGI middleware)."""

from botocore.exceptions import BotoCoreError, ClientError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.authenticate import authenticate
from app.errors import DomainError, problem_response


class AuthenticationMiddleware:
    """Resolves the caller into `scope["state"]["caller"]`, or answers 401 at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # CORS preflights carry no credentials (any other OPTIONS, e.g. one invoking a
        # function, is a request like the others).
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self.app(scope, receive, send)
            return
        container = scope["app"].state.container
        header = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        try:
            caller = await authenticate(
                token=token or None,
                settings=container.settings,
                keys=container.api_keys,
                verifier=container.jwt_verifier,
            )
        except DomainError as exc:
            response = problem_response(
                status=exc.status,
                code=exc.code,
                title=exc.title,
                detail=exc.detail,
                instance=scope["path"],
                headers=exc.headers,
            )
            await response(scope, receive, send)
            return
        except (BotoCoreError, ClientError):  # looking up an API key needs DynamoDB
            response = problem_response(
                status=503,
                code="STORAGE_UNAVAILABLE",
                title="Service unavailable",
                detail="Storage is unavailable right now; retry shortly.",
                instance=scope["path"],
                headers={"Retry-After": "5"},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

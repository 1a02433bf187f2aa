"""What can go wrong, as one exception the commands render: code, title, details, exit code."""

from enum import IntEnum
from typing import Any

import httpx


class ExitCode(IntEnum):
    """Exit codes CI can rely on (also in the README)."""

    OK = 0
    FAILED = 1  # the server refused the request, or the task failed
    USAGE = 2  # bad arguments or local input (click uses 2 for usage errors too)
    UNREACHABLE = 3  # the server did not answer
    INTERRUPTED = 130


class CliError(Exception):
    """An error shown to the user: `code` is stable, the rest is for a person."""

    def __init__(
        self,
        code: str,
        title: str,
        detail: str = "",
        *,
        status: int | None = None,
        fields: list[dict[str, Any]] | None = None,
        lines: list[str] | None = None,
        hint: str | None = None,
        exit_code: int = ExitCode.FAILED,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {title}")
        self.code = code
        self.title = title
        self.detail = detail
        self.status = status
        self.fields = fields or []
        self.lines = lines or []
        self.hint = hint
        self.exit_code = int(exit_code)
        self.extra = extra or {}

    def as_json(self) -> dict[str, Any]:
        """The error as a problem-like object (what `--output json` prints on stderr)."""
        body: dict[str, Any] = {"code": self.code, "title": self.title, "detail": self.detail}
        if self.status is not None:
            body["status"] = self.status
        if self.fields:
            body["errors"] = self.fields
        if self.lines:
            body["lines"] = self.lines
        if self.hint:
            body["hint"] = self.hint
        return body | self.extra


def usage_error(code: str, title: str, detail: str = "", **kwargs: Any) -> CliError:
    """A problem with the command's own input, found before anything is sent."""
    return CliError(code, title, detail, exit_code=ExitCode.USAGE, **kwargs)


# Starlette's own texts for a path or method no route serves (as opposed to a domain 404).
_NO_ROUTE_DETAILS = {404: "Not Found", 405: "Method Not Allowed"}


def problem_error(response: httpx.Response) -> CliError:
    """The error a non-2xx answer stands for (problem+json, other JSON, or anything else)."""
    request = response.request
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()
        return CliError(
            f"HTTP_{response.status_code}",
            response.reason_phrase or "HTTP error",
            f"{request.method} {request.url} answered {response.status_code}"
            + (f": {text[0][:200]}" if text else ""),
            status=response.status_code,
        )
    code = str(body.get("code") or f"HTTP_{response.status_code}")
    detail = body.get("detail")
    if not isinstance(detail, str):  # e.g. FastAPI's default {"detail": [...]} outside our API
        detail = "" if detail is None else str(detail)
    hint = None
    if _NO_ROUTE_DETAILS.get(response.status_code) == detail:
        url = request.url
        origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        hint = (
            f"the server at {origin} has no route {request.method} {url.path}: "
            "it may be older than this client"
        )
    if response.status_code == 401:
        hint = "log in with `faas login --api-key -` (or --token), or set FAAS_API_KEY"
    fields = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    return CliError(
        code,
        str(body.get("title") or response.reason_phrase or "HTTP error"),
        detail,
        status=response.status_code,
        fields=fields,
        hint=hint,
    )


def network_error(exc: httpx.TransportError, url: str) -> CliError:
    """The error for a request that got no answer: names the URL it tried."""
    if isinstance(exc, httpx.TimeoutException):
        return CliError(
            "TIMEOUT",
            f"No answer from {url} in time",
            str(exc) or type(exc).__name__,
            exit_code=ExitCode.UNREACHABLE,
        )
    reason = str(exc) or type(exc).__name__
    return CliError(
        "NETWORK_ERROR",
        f"Could not reach {url}",
        reason,
        hint="is the backend running? Set its address with `faas login --url URL` or FAAS_URL",
        exit_code=ExitCode.UNREACHABLE,
    )

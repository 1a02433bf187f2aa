"""CORS with its refusals as problem+json, like every other answer of the API.

Starlette's CORSMiddleware answers a refused preflight with `400 text/plain`
("Disallowed CORS origin"); a browser does not show it, but a client or a proxy log does.
"""

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.errors import problem_response

_BODY_HEADERS = {"content-length", "content-type"}


class ProblemCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        return problem_response(
            status=400,
            code="CORS_REFUSED",
            title="Cross-origin request refused",
            detail=f"This cross-origin request is not allowed: its {refused} "
            "is not among those the API accepts.",
            headers={k: v for k, v in answer.headers.items() if k not in _BODY_HEADERS},
        )

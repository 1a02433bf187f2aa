"""Echo: answers with the request's method, path, headers and body as JSON."""

import json

from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        body = request.body or b""
        reply = {
            "method": request.method,
            "uri": request.uri,
            "headers": dict(request.headers),
            "body": body.decode("utf-8", errors="replace"),
            "body_bytes": len(body),
        }
        return Response(
            200,
            {"content-type": "application/json"},
            json.dumps(reply, indent=2).encode("utf-8"),
        )

"""Hello world: answers every request with a plain-text greeting."""

from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(
            200,
            {"content-type": "text/plain"},
            bytes("Hello from a Python function on Spin!\n", "utf-8"),
        )

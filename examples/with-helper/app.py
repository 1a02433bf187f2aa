"""A function split over two modules: the handler here, the greeting logic in greeting.py.

Zip this folder (app.py and greeting.py at the root of the archive, or both inside one
top-level folder) and upload the .zip.
"""

from urllib.parse import parse_qs, urlsplit

from greeting import greet
from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        query = parse_qs(urlsplit(request.uri).query)
        name = query.get("name", ["world"])[0]
        return Response(200, {"content-type": "text/plain"}, greet(name).encode("utf-8"))

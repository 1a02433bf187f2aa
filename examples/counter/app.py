"""Counter: counts its calls in the app's `default` key-value store (kept across restarts).

The component must be granted the store (`key_value_stores = ["default"]` in the locked app);
without the grant `open_default()` raises `Error_AccessDenied`, as on Spin.
"""

from spin_sdk import http, key_value
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        store = key_value.open_default()
        count = int((store.get("count") or b"0").decode()) + 1
        store.set("count", str(count).encode())
        return Response(200, {"content-type": "text/plain"}, f"{count}\n".encode())

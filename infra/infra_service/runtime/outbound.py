"""wasi:http/outgoing-handler: outbound HTTP, only to the hosts the component's manifest allows."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wasmtime.component import Variant

from infra_service.runtime.allowed_hosts import is_allowed
from infra_service.runtime.context import Invocation
from infra_service.runtime.http_types import IncomingResponse, OutgoingRequest, RequestOptions
from infra_service.runtime.io import BytesInput, Deferred
from infra_service.runtime.wit_values import Err, Ok

if TYPE_CHECKING:
    import httpx

_DNS_HINTS = ("name or service not known", "nodename nor servname", "getaddrinfo", "no address")


def _scheme(request: OutgoingRequest) -> str:
    if request.scheme is None:
        return "https"
    if request.scheme.tag == "other":
        return str(request.scheme.payload).lower()
    return str(request.scheme.tag).lower()


def _method(request: OutgoingRequest) -> str:
    tag = request.method.tag
    return str(request.method.payload) if tag == "other" else str(tag).upper()


class FutureIncomingResponse:
    """Sends once the guest has finished the request body; the answer is read whole, capped."""

    def __init__(self, request: OutgoingRequest, options: RequestOptions | None) -> None:
        self.request = request
        self.options = options
        self.result: Ok | Err | None = None
        self.delivered = False

    def resolve(self, inv: Invocation) -> bool:
        if self.result is None:
            body = self.request.body
            if body.taken and not body.finished:
                return False  # the guest is still writing the body
            self.result = _send(inv, self.request, self.options)
        return True


def _timeout(inv: Invocation, options: RequestOptions | None) -> "httpx.Timeout":
    import httpx

    left = inv.remaining()

    def bound(nanoseconds: int | None) -> float:
        return left if nanoseconds is None else min(left, nanoseconds / 1e9)

    timeouts = options.timeouts if options else {}
    return httpx.Timeout(
        left,
        connect=bound(timeouts.get("connect")),
        read=bound(timeouts.get("between") or timeouts.get("first-byte")),
    )


def _send(inv: Invocation, request: OutgoingRequest, options: RequestOptions | None) -> Ok | Err:
    import httpx  # on first use, as AppServices.http()

    url = f"{_scheme(request)}://{request.authority}{request.path_with_query or '/'}"
    limit = inv.app.max_outbound_response_bytes
    try:
        with inv.app.http().stream(
            _method(request),
            url,
            headers=[(name.encode(), value) for name, value in request.headers.entries],
            content=bytes(request.output.data),
            timeout=_timeout(inv, options),
        ) as answer:
            body = bytearray()
            for chunk in answer.iter_raw():  # raw: content-encoding stays the guest's to decode
                body += chunk
                if len(body) > limit:
                    return Err(Variant("HTTP-response-body-size", limit))
            headers = [
                (name.decode("latin-1").lower(), value) for name, value in answer.headers.raw
            ]
            return Ok(IncomingResponse(answer.status_code, headers, BytesInput(bytes(body))))
    except httpx.TimeoutException as exc:
        inv.remaining()  # past the invocation's own deadline: that is our timeout, not theirs
        case = (
            "connection-timeout"
            if isinstance(exc, httpx.ConnectTimeout)
            else "connection-read-timeout"
        )
        return Err(Variant(case))
    except httpx.ConnectError as exc:
        if any(hint in str(exc).lower() for hint in _DNS_HINTS):
            return Err(Variant("DNS-error", {"rcode": None, "info-code": None}))
        return Err(Variant("connection-refused"))
    except httpx.HTTPError as exc:
        return Err(Variant("internal-error", f"{type(exc).__name__}: {exc}"))


def _handle(inv: Invocation, request: OutgoingRequest, options: RequestOptions | None) -> Ok | Err:
    scheme = _scheme(request)
    authority = request.authority or ""
    parts = urlsplit(f"{scheme}://{authority}")
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return Err(Variant("HTTP-request-URI-invalid"))
    if not host:
        inv.notice(
            "outbound-self",
            "A component tried to make an HTTP request to its own app (a relative URL); "
            "the local runtime does not support requests to self.",
        )
        return Err(Variant("HTTP-request-denied"))
    if not is_allowed(inv.app.allowed_hosts, scheme=scheme, host=host, port=port):
        destination = f"{scheme}://{authority}"
        inv.notice(
            f"outbound-denied:{destination}",
            f"A component tried to make an outbound network connection to disallowed "
            f"destination '{destination}'. To allow this request, add "
            f"'allowed_outbound_hosts = [\"{destination}\"]' to the manifest component "
            f"section (component '{inv.app.manifest.component_id}').",
        )
        return Err(Variant("HTTP-request-denied"))
    return Ok(FutureIncomingResponse(request, options))


def _get(inv: Invocation, future: FutureIncomingResponse) -> Any:
    if future.delivered:
        return Err(None)
    if not future.resolve(inv):
        return None
    future.delivered = True
    return Ok(future.result)


def _subscribe(inv: Invocation, future: FutureIncomingResponse) -> Deferred:
    return Deferred(lambda: future.resolve(inv))


FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "wasi:http/outgoing-handler@0.2.0": {"handle": _handle},
    "wasi:http/types@0.2.0": {
        "[method]future-incoming-response.subscribe": _subscribe,
        "[method]future-incoming-response.get": _get,
    },
}

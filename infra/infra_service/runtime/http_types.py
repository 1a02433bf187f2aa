"""wasi:http/types — the server side (incoming request, response outparam) and the types of
outbound calls, as host objects behind the guest's handles."""

import re
from collections.abc import Callable
from typing import Any

from wasmtime.component import Variant

from infra_service.runtime.context import FUNCTION_ERROR, HostTrap, Invocation
from infra_service.runtime.io import (
    BufferOutput,
    InputStream,
    OutputStream,
    Pollable,
    RequestBodyInput,
)
from infra_service.runtime.wit_values import Err, Ok

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# As wasmtime-wasi-http: framing and proxy headers belong to the host, not the guest.
FORBIDDEN_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
}
METHODS = {"get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"}
SCHEMES = {"http": "HTTP", "https": "HTTPS"}


class Fields:
    def __init__(self, entries: list[tuple[str, bytes]], *, immutable: bool = False) -> None:
        self.entries = entries
        self.immutable = immutable

    def view(self) -> "Fields":
        """The same entries behind an immutable handle (what `.headers()` hands out)."""
        return Fields(self.entries, immutable=True)


def _header_error(name: str, value: bytes | None = None) -> Variant | None:
    if not _TOKEN.match(name.encode("utf-8", errors="replace")):
        return Variant("invalid-syntax")
    if value is not None and any(c in value for c in b"\r\n\0"):
        return Variant("invalid-syntax")
    if name.lower() in FORBIDDEN_HEADERS:
        return Variant("forbidden")
    return None


def _from_list(inv: Invocation, entries: list[tuple[str, bytes]]) -> Ok | Err:
    for name, value in entries:
        if (error := _header_error(name, value)) is not None:
            return Err(error)
    return Ok(Fields([(name.lower(), bytes(value)) for name, value in entries]))


def _set(inv: Invocation, fields: Fields, name: str, values: list[bytes]) -> Ok | Err:
    if fields.immutable:
        return Err(Variant("immutable"))
    for value in values:
        if (error := _header_error(name, value)) is not None:
            return Err(error)
    key = name.lower()
    fields.entries[:] = [(n, v) for n, v in fields.entries if n != key]
    fields.entries.extend((key, bytes(value)) for value in values)
    return Ok()


def _delete(inv: Invocation, fields: Fields, name: str) -> Ok | Err:
    if fields.immutable:
        return Err(Variant("immutable"))
    if (error := _header_error(name)) is not None:
        return Err(error)
    fields.entries[:] = [(n, v) for n, v in fields.entries if n != name.lower()]
    return Ok()


def _append(inv: Invocation, fields: Fields, name: str, value: bytes) -> Ok | Err:
    if fields.immutable:
        return Err(Variant("immutable"))
    if (error := _header_error(name, value)) is not None:
        return Err(error)
    fields.entries.append((name.lower(), bytes(value)))
    return Ok()


def method_variant(method: str) -> Variant:
    lower = method.lower()
    return Variant(lower) if lower in METHODS else Variant("other", method)


def scheme_variant(scheme: str) -> Variant:
    tag = SCHEMES.get(scheme.lower())
    return Variant(tag) if tag else Variant("other", scheme)


class OnceTaken:
    """A child (body, stream) that the guest may take exactly once."""

    def __init__(self) -> None:
        self.taken = False

    def take(self, child: object) -> Ok | Err:
        if self.taken:
            return Err(None)
        self.taken = True
        return Ok(child)


class IncomingBody(OnceTaken):
    def __init__(self, stream: InputStream) -> None:
        super().__init__()
        self.stream = stream


class IncomingRequest(OnceTaken):
    def __init__(self, inv: Invocation) -> None:
        super().__init__()
        self.data = inv.request
        self.headers = Fields(list(inv.request.headers), immutable=True)
        self.body = IncomingBody(RequestBodyInput(inv.body, limit=inv.max_request_bytes))


class IncomingResponse(OnceTaken):
    def __init__(self, status: int, headers: list[tuple[str, bytes]], body: InputStream) -> None:
        super().__init__()
        self.status = status
        self.headers = Fields(headers, immutable=True)
        self.body = IncomingBody(body)


class PendingOutput(OutputStream):
    """A response body written before its response was set: held, then handed over."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.target: OutputStream | None = None
        self.held = BufferOutput(limit=limit)

    def write(self, inv: Invocation, data: bytes) -> None:
        (self.target or self.held).write(inv, data)


class OutgoingBody(OnceTaken):
    def __init__(self, stream: OutputStream) -> None:
        super().__init__()
        self.stream = stream
        self.finished = False
        self.on_finish: Callable[[], None] | None = None

    def finish(self) -> None:
        self.finished = True
        self.stream.closed = True
        if self.on_finish is not None:
            self.on_finish()


class OutgoingResponse(OnceTaken):
    def __init__(self, headers: Fields, *, limit: int) -> None:
        super().__init__()
        self.status = 200
        self.headers = Fields(headers.entries)
        self.output = PendingOutput(limit)
        self.body = OutgoingBody(self.output)


class OutgoingRequest(OnceTaken):
    def __init__(self, headers: Fields, *, limit: int) -> None:
        super().__init__()
        self.method = Variant("get")
        self.scheme: Variant | None = None
        self.authority: str | None = None
        self.path_with_query: str | None = None
        self.headers = Fields(headers.entries)
        self.output = BufferOutput(limit=limit)
        self.body = OutgoingBody(self.output)


class RequestOptions:
    def __init__(self) -> None:
        self.timeouts: dict[str, int | None] = {
            "connect": None,
            "first-byte": None,
            "between": None,
        }


class ResponseOutparam:
    def __init__(self) -> None:
        self.used = False


def _outparam_set(inv: Invocation, param: ResponseOutparam, response: Ok | Err) -> None:
    if param.used:
        raise HostTrap("response-outparam.set was called twice")
    param.used = True
    if isinstance(response, Err):
        tag = response.value.tag if isinstance(response.value, Variant) else "error"
        inv.fail(FUNCTION_ERROR, f"the function answered with the HTTP error {tag!r}")
        return
    answer: OutgoingResponse = response.value
    writer = inv.response
    writer.set(answer.status, answer.headers.entries)

    class ToWriter(OutputStream):
        def write(self, inv: Invocation, data: bytes) -> None:
            writer.write(data)

    answer.output.target = ToWriter()
    if answer.output.held.data:
        writer.write(bytes(answer.output.held.data))
    answer.body.on_finish = writer.finish
    if answer.body.finished:
        writer.finish()


def _set_status(inv: Invocation, response: OutgoingResponse, status: int) -> Ok | Err:
    if not 100 <= status <= 599:
        return Err(None)
    response.status = status
    return Ok()


def _body_finish(inv: Invocation, body: OutgoingBody, trailers: Fields | None) -> Ok:
    body.finish()
    return Ok()


def _setter(attribute: str) -> Callable[..., Ok]:
    def assign(inv: Invocation, request: OutgoingRequest, value: Any) -> Ok:
        setattr(request, attribute, value)
        return Ok()

    return assign


def _timeout_setter(which: str) -> Callable[..., Ok]:
    def assign(inv: Invocation, options: RequestOptions, value: int | None) -> Ok:
        options.timeouts[which] = value
        return Ok()

    return assign


FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "wasi:http/types@0.2.0": {
        "[constructor]fields": lambda inv: Fields([]),
        "[static]fields.from-list": _from_list,
        "[method]fields.get": lambda inv, f, name: [v for n, v in f.entries if n == name.lower()],
        "[method]fields.has": lambda inv, f, name: any(n == name.lower() for n, _ in f.entries),
        "[method]fields.set": _set,
        "[method]fields.delete": _delete,
        "[method]fields.append": _append,
        "[method]fields.entries": lambda inv, f: list(f.entries),
        "[method]fields.clone": lambda inv, f: Fields(list(f.entries)),
        "[method]incoming-request.method": lambda inv, r: method_variant(r.data.method),
        "[method]incoming-request.path-with-query": lambda inv, r: r.data.path_with_query,
        "[method]incoming-request.scheme": lambda inv, r: scheme_variant(r.data.scheme),
        "[method]incoming-request.authority": lambda inv, r: r.data.authority,
        "[method]incoming-request.headers": lambda inv, r: r.headers.view(),
        "[method]incoming-request.consume": lambda inv, r: r.take(r.body),
        "[method]incoming-body.stream": lambda inv, b: b.take(b.stream),
        "[static]incoming-body.finish": lambda inv, b: Pollable(),
        "[method]future-trailers.subscribe": lambda inv, t: Pollable(),
        "[method]future-trailers.get": lambda inv, t: Ok(Ok(None)),
        "[constructor]outgoing-response": lambda inv, h: OutgoingResponse(
            h, limit=inv.max_response_bytes
        ),
        "[method]outgoing-response.status-code": lambda inv, r: r.status,
        "[method]outgoing-response.set-status-code": _set_status,
        "[method]outgoing-response.headers": lambda inv, r: r.headers.view(),
        "[method]outgoing-response.body": lambda inv, r: r.take(r.body),
        "[method]outgoing-body.write": lambda inv, b: b.take(b.stream),
        "[static]outgoing-body.finish": _body_finish,
        "[static]response-outparam.set": _outparam_set,
        "[constructor]outgoing-request": lambda inv, h: OutgoingRequest(
            h, limit=inv.max_request_bytes
        ),
        "[method]outgoing-request.body": lambda inv, r: r.take(r.body),
        "[method]outgoing-request.method": lambda inv, r: r.method,
        "[method]outgoing-request.set-method": _setter("method"),
        "[method]outgoing-request.path-with-query": lambda inv, r: r.path_with_query,
        "[method]outgoing-request.set-path-with-query": _setter("path_with_query"),
        "[method]outgoing-request.scheme": lambda inv, r: r.scheme,
        "[method]outgoing-request.set-scheme": _setter("scheme"),
        "[method]outgoing-request.authority": lambda inv, r: r.authority,
        "[method]outgoing-request.set-authority": _setter("authority"),
        "[method]outgoing-request.headers": lambda inv, r: r.headers.view(),
        "[constructor]request-options": lambda inv: RequestOptions(),
        "[method]request-options.connect-timeout": lambda inv, o: o.timeouts["connect"],
        "[method]request-options.set-connect-timeout": _timeout_setter("connect"),
        "[method]request-options.first-byte-timeout": lambda inv, o: o.timeouts["first-byte"],
        "[method]request-options.set-first-byte-timeout": _timeout_setter("first-byte"),
        "[method]request-options.between-bytes-timeout": lambda inv, o: o.timeouts["between"],
        "[method]request-options.set-between-bytes-timeout": _timeout_setter("between"),
        "[method]incoming-response.status": lambda inv, r: r.status,
        "[method]incoming-response.headers": lambda inv, r: r.headers.view(),
        "[method]incoming-response.consume": lambda inv, r: r.take(r.body),
        "http-error-code": lambda inv, error: None,
    },
}

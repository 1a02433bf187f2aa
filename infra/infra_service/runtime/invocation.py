"""One invocation: a fresh Store and instance per request (as Spin), the handler called, the
outcome classified into the stable error codes."""

import logging
import time
from dataclasses import dataclass

from wasmtime import Engine, Store, WasmtimeError
from wasmtime.component import Component, FuncType, ResourceHost

from infra_service.runtime.app import AppServices
from infra_service.runtime.context import (
    FUNCTION_ERROR,
    FUNCTION_MEMORY_LIMIT,
    FUNCTION_TIMEOUT,
    REQUEST_TOO_LARGE,
    RESPONSE_TOO_LARGE,
    BodySource,
    IncomingRequestData,
    Invocation,
    bind,
)
from infra_service.runtime.guest_output import GuestOutput, LineSink
from infra_service.runtime.http_types import IncomingRequest, ResponseOutparam
from infra_service.runtime.limits import EpochTicker
from infra_service.runtime.linking import ComponentError, build_linker
from infra_service.runtime.replica import Limits
from infra_service.runtime.response import ResponseSink, ResponseWriter

log = logging.getLogger(__name__)

HANDLER = "wasi:http/incoming-handler@0.2.0"
STATUS = {
    FUNCTION_TIMEOUT: (504, "Function timed out"),
    FUNCTION_MEMORY_LIMIT: (500, "Function exceeded its memory limit"),
    FUNCTION_ERROR: (500, "Function failed"),
    REQUEST_TOO_LARGE: (413, "Request too large"),
    RESPONSE_TOO_LARGE: (502, "Response too large"),
}
_MEMORY_HINTS = ("MemoryError", "memory minimum size", "exceeds memory limits", "out of memory")


@dataclass(frozen=True)
class Outcome:
    status: int
    error_code: str | None
    error_message: str | None
    duration_ms: float
    aborted: bool  # the answer had started when it failed: the connection must be cut


def trap_reason(trap: str) -> str:
    """The root cause of a wasmtime error: its last line ("Caused by: ..." comes last)."""
    lines = [line.strip() for line in trap.splitlines() if line.strip()]
    return lines[-1] if lines else "the function trapped"


class _Watch:
    """Passes guest lines on, noticing a traceback and a MemoryError among them."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self.traceback = False
        self.memory_error = False

    def __call__(self, stream: str, line: str) -> None:
        if stream == "stderr":
            self.traceback |= line.startswith("Traceback (most recent call last)")
            self.memory_error |= line.startswith("MemoryError")
        self._sink(stream, line)


class Runner:
    """Shares one Engine, Component and Linker between invocations; each gets its own Store."""

    def __init__(
        self, *, engine: Engine, component: Component, app: AppServices, limits: Limits
    ) -> None:
        self._engine = engine
        self._component = component
        self._app = app
        self._limits = limits
        self._linker, types = build_linker(engine, component)
        exports = component.type.exports(engine)
        if HANDLER not in exports:
            raise ComponentError(f"the component does not export {HANDLER}")
        handle = exports[HANDLER].ty.exports(engine).get("handle")  # type: ignore[union-attr]
        if handle is None or not isinstance(handle.ty, FuncType):
            raise ComponentError(f"{HANDLER} has no function 'handle'")
        (_, request_ty), (_, outparam_ty) = handle.ty.params
        self._request_type = types.id_for(request_ty.ty)  # type: ignore[attr-defined]
        self._outparam_type = types.id_for(outparam_ty.ty)  # type: ignore[attr-defined]
        interface = component.get_export_index(HANDLER)
        index = component.get_export_index("handle", interface)
        if index is None:
            raise ComponentError(f"{HANDLER} has no function 'handle'")
        self._handle_index = index
        self._ticker = EpochTicker(engine)

    def close(self) -> None:
        self._ticker.stop()

    def invoke(
        self,
        *,
        invocation_id: str,
        request: IncomingRequestData,
        body: BodySource,
        sink: ResponseSink,
        lines: LineSink,
    ) -> Outcome:
        """Run the handler once for `request`; the answer goes to `sink`, output to `lines`."""
        limits = self._limits
        watch = _Watch(lines)
        writer = ResponseWriter(sink, max_bytes=limits.max_response_bytes)
        invocation = Invocation(
            invocation_id=invocation_id,
            request=request,
            body=body,
            response=writer,
            output=GuestOutput(watch),
            app=self._app,
            timeout_s=limits.timeout_ms / 1000,
            max_request_bytes=limits.max_request_bytes,
            max_response_bytes=limits.max_response_bytes,
        )
        trap = self._call(invocation)
        invocation.output.flush()
        code, message = self._classify(invocation, trap, watch)
        if trap is not None and code is not None:
            log.info("invocation %s trapped (%s): %s", invocation_id, code, message)
            log.debug("invocation %s trap in full: %s", invocation_id, trap)
            invocation.output.host_line(f"[runtime] the function trapped: {message}")
        aborted = False
        # A guest that raised got its own 500 from spin-sdk: passed through, recorded as ours.
        passthrough = trap is None and code == FUNCTION_ERROR and writer.is_set
        if code is not None and not passthrough:
            status, title = STATUS[code]
            detail = message or title
            aborted = not writer.fail(
                status=status, code=code, title=title, detail=detail, instance=invocation_id
            )
        else:
            writer.finish()
        return Outcome(
            status=writer.status or 500,
            error_code=code,
            error_message=message,
            duration_ms=round((time.monotonic() - invocation.started) * 1000, 2),
            aborted=aborted,
        )

    def _call(self, invocation: Invocation) -> str | None:
        """Instantiate and call `handle`; the trap's message if it trapped."""
        bind(invocation)
        store: Store | None = None
        try:
            with self._ticker.running():
                store = Store(self._engine)
                store.set_limits(memory_size=self._limits.memory_bytes)
                store.set_epoch_deadline(self._ticker.ticks_for(invocation.timeout_s))
                instance = self._linker.instantiate(store, self._component)
                handle = instance.get_func(store, self._handle_index)
                if handle is None:
                    raise ComponentError("the instance has no handle function")
                request = ResourceHost.own(
                    invocation.add(IncomingRequest(invocation)), self._request_type
                )
                outparam = ResourceHost.own(invocation.add(ResponseOutparam()), self._outparam_type)
                handle(store, request, outparam)
            return None
        except WasmtimeError as exc:
            return str(exc)
        except Exception as exc:  # a host bug surfacing through wasmtime-py
            log.exception("invocation %s failed in the host", invocation.invocation_id)
            invocation.fail(FUNCTION_ERROR, f"host error: {type(exc).__name__}: {exc}")
            return str(exc)
        finally:
            bind(None)
            del store  # drops the instance and its memory now, not at the next GC

    def _classify(
        self, invocation: Invocation, trap: str | None, watch: _Watch
    ) -> tuple[str | None, str | None]:
        writer = invocation.response
        if invocation.failure_code is not None:
            return invocation.failure_code, invocation.failure_message
        if watch.memory_error or (trap and any(h in trap for h in _MEMORY_HINTS)):
            return FUNCTION_MEMORY_LIMIT, (
                f"the function needed more than its {self._limits.memory_bytes} bytes of memory"
            )
        if trap is not None:
            reason = trap_reason(trap)
            if reason == "wasm trap: interrupt":
                return FUNCTION_TIMEOUT, (
                    f"the function ran longer than its {self._limits.timeout_ms} ms limit"
                )
            if invocation.exited is True and writer.is_set:
                return None, None
            return FUNCTION_ERROR, reason
        if not writer.is_set:
            return FUNCTION_ERROR, "the function returned without setting a response"
        if watch.traceback and writer.status == 500:
            return FUNCTION_ERROR, "the function raised an exception (traceback in its stderr)"
        return None, None

"""Spin's own interfaces: variables and wasi:config from the app's config; the rest unavailable."""

from collections.abc import Callable
from typing import Any

from wasmtime.component import FuncType, ResultType, String, Variant, VariantType

from infra_service.runtime.context import HostTrap, Invocation
from infra_service.runtime.variables import VariableError
from infra_service.runtime.wit_values import Err, Ok

# Interfaces a component may import but the local runtime does not provide (by name prefix).
UNAVAILABLE = {
    "fermyon:spin/llm": "LLM inferencing",
    "fermyon:spin/redis": "Redis",
    "fermyon:spin/mqtt": "MQTT",
    "fermyon:spin/mysql": "MySQL",
    "fermyon:spin/postgres": "PostgreSQL",
    "fermyon:spin/sqlite": "SQLite",
    "fermyon:spin/rdbms-types": "relational databases",
    "spin:postgres/": "PostgreSQL",
    "spin:sqlite/": "SQLite",
    "wasi:sockets/": "raw sockets",
}
# Error cases (with a string payload) that can carry the "unavailable" text, best first.
_MESSAGE_CASES = ("other", "io", "connection-failed", "runtime-error", "upstream")


def unavailable_message(interface: str) -> str:
    what = next((name for prefix, name in UNAVAILABLE.items() if interface.startswith(prefix)), "")
    label = f" ({what})" if what else ""
    return f"{interface}{label} is not available on the local runtime"


def _message_case(fty: FuncType) -> str | None:
    """The error case of the function's result that carries a string, if it has one."""
    result = fty.result
    if not isinstance(result, ResultType) or not isinstance(result.err, VariantType):
        return None
    cases = [name for name, ty in result.err.cases if isinstance(ty, String)]
    return next((c for c in _MESSAGE_CASES if c in cases), cases[0] if cases else None)


def unavailable(interface: str, fty: FuncType) -> Callable[..., Any]:
    """A host function that fails with the interface's "unavailable" error (or traps)."""
    message = unavailable_message(interface)
    case = _message_case(fty)

    def refuse(inv: Invocation, *args: Any) -> Any:
        inv.notice(f"unavailable:{interface}", message)
        if case is None:
            raise HostTrap(message)
        return Err(Variant(case, message))

    return refuse


def _variables_get(inv: Invocation, name: str) -> Ok | Err:
    try:
        return Ok(inv.app.variables.get(name))
    except VariableError as exc:
        return Err(Variant(exc.kind, exc.message))


def _config_get(inv: Invocation, key: str) -> Ok | Err:
    try:
        return Ok(inv.app.variables.get(key))
    except VariableError as exc:
        if exc.kind in ("undefined", "invalid-name"):
            return Ok(None)
        return Err(Variant("upstream", exc.message))


def _config_get_all(inv: Invocation) -> Ok | Err:
    try:
        return Ok(inv.app.variables.get_all())
    except VariableError as exc:
        return Err(Variant("upstream", exc.message))


FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "fermyon:spin/variables@2.0.0": {"get": _variables_get},
    "wasi:config/store@0.2.0-draft-2024-09-27": {
        "get": _config_get,
        "get-all": _config_get_all,
    },
}

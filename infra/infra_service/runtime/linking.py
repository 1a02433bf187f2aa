"""The component Linker: every import the component declares, defined by a Python host function.

Built once per process from the component's own import list, so a name the host does not know
still links (it fails when called, with a message naming it). Resources that WIT `use` shares
between interfaces (e.g. `wasi:io/streams#input-stream` and `wasi:http/types#input-stream`) are
one type, so they get one host type id: equal `ResourceType`s are grouped.
"""

import logging
from collections.abc import Callable
from typing import Any

from wasmtime import Engine, StoreContext, WasmtimeError
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    FuncType,
    Linker,
    ResourceAny,
    ResourceHost,
    ResourceType,
)

from infra_service.runtime import (
    http_types,
    io,
    keyvalue_imports,
    outbound,
    spin_imports,
    wasi,
    wasmtime_patches,
)
from infra_service.runtime.context import FUNCTION_ERROR, GuestExit, HostTrap, current_or_none
from infra_service.runtime.wit_values import (
    Inexpressible,
    ResourceHooks,
    lifter,
    lowerer,
)

log = logging.getLogger(__name__)

HostImpl = Callable[..., Any]
Registry = dict[str, dict[str, HostImpl]]


class ComponentError(Exception):
    """The component cannot be run by this host."""


def registry() -> Registry:
    """Every host function, by interface and function name."""
    merged: Registry = {}
    for module in (io, wasi, http_types, outbound, spin_imports, keyvalue_imports):
        for interface, functions in module.FUNCTIONS.items():
            merged.setdefault(interface, {}).update(functions)
    return merged


class ResourceTypes:
    """One host type id per distinct resource type of the component's imports."""

    def __init__(self) -> None:
        self._known: list[tuple[ResourceType, int]] = []

    def id_for(self, ty: ResourceType) -> int:
        for known, type_id in self._known:
            if known == ty:
                return type_id
        type_id = len(self._known) + 1
        self._known.append((ty, type_id))
        return type_id


def _own(type_id: int, value: object) -> Any:
    if isinstance(value, ResourceHost | ResourceAny):
        return value
    invocation = current_or_none()
    if invocation is None:
        raise HostTrap("resource created outside an invocation")
    return ResourceHost.own(invocation.add(value), type_id)


def _find(store: StoreContext, handle: ResourceAny, owned: bool) -> object:
    invocation = current_or_none()
    if invocation is None:
        raise HostTrap("resource used outside an invocation")
    rep = handle.to_host(store).rep
    try:
        # An owned handle passes to the host for good: the guest will never drop it.
        return invocation.table.pop(rep) if owned else invocation.table[rep]
    except KeyError:
        raise HostTrap(f"unknown resource handle {rep}") from None


def _drop(store: StoreContext, rep: int) -> None:
    invocation = current_or_none()
    if invocation is not None:
        invocation.table.pop(rep, None)


def host_function(where: str, impl: HostImpl, fty: FuncType, hooks: ResourceHooks) -> HostImpl:
    """Wrap `impl(invocation, *plain_args)` as a host function; a failure traps the guest
    and is recorded on the invocation (the first reason recorded is the one reported)."""
    lifts = [lifter(ty, hooks) for _, ty in fty.params]
    has_result = fty.result is not None
    lower = lowerer(fty.result, hooks) if fty.result is not None else None

    def call(store: StoreContext, *args: Any) -> Any:
        invocation = current_or_none()
        if invocation is None:
            raise WasmtimeError(f"{where} called outside an invocation")
        result: Any = None
        try:
            values = [
                lift(store, arg) if lift else arg for lift, arg in zip(lifts, args, strict=True)
            ]
            result = impl(invocation, *values)
            if not has_result:
                return None
            return lower(result) if lower else result
        except GuestExit as exit_:
            invocation.exited = exit_.success
            raise WasmtimeError(exit_.message) from None
        except HostTrap as trap:
            invocation.fail(trap.code, trap.message)
            raise WasmtimeError(trap.message) from None
        except Inexpressible:
            message = f"{where} failed; wasmtime-py cannot pass its error: {result!r:.300}"
            invocation.fail(FUNCTION_ERROR, message)
            raise WasmtimeError(message) from None
        except Exception as exc:
            log.exception("host function %s failed", where)
            message = f"host error in {where}: {type(exc).__name__}: {exc}"
            invocation.fail(FUNCTION_ERROR, message)
            raise WasmtimeError(message) from None

    return call


def build_linker(engine: Engine, component: Component) -> tuple[Linker, ResourceTypes]:
    """A linker defining every import of `component`; unknown ones fail when called."""
    wasmtime_patches.install()
    functions = registry()
    types = ResourceTypes()
    hooks = ResourceHooks(type_id=types.id_for, own=_own, find=_find)
    linker = Linker(engine)
    with linker.root() as root:
        for interface, extern in component.type.imports(engine).items():
            item = extern.ty
            if not isinstance(item, ComponentInstanceType):
                raise ComponentError(
                    f"the component imports {interface!r}, which is not an interface"
                )
            known = functions.get(interface, {})
            with root.add_instance(interface) as instance:
                for name, export in item.exports(engine).items():
                    ty = export.ty
                    if isinstance(ty, ResourceType):
                        instance.add_resource(name, ResourceType.host(types.id_for(ty)), _drop)
                    elif isinstance(ty, FuncType):
                        impl = known.get(name) or spin_imports.unavailable(interface, ty)
                        wasmtime_patches.add_func(
                            instance,
                            name,
                            host_function(f"{interface}#{name}", impl, ty, hooks),
                            ty,
                        )
    return linker, types

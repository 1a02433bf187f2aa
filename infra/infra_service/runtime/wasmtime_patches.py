"""Fixes to wasmtime-py 50's component host calls, installed once per process.

- Thread safety: case matching for untagged variants uses one module-global scratch set, so
  two threads converting values at once can pick each other's case. Each thread gets its own.
- Speed: a `list<u8>` is converted one byte at a time in Python (a 4 KiB body chunk costs
  milliseconds). Bytes are laid into (and read out of) the C value array with slice copies.
- Speed: every host call rebuilt its function type and walked it (cases, fields, elements)
  through the C API, about 180 type objects per request. `add_func` registers a host function
  with the types read once at link time, and those types remember what they have read.
- Errors: a Python exception in a host function is kept in a module global until the calling
  thread picks it up; `add_func` turns it into the wasmtime error of that very call.
"""

import ctypes
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from wasmtime import StoreContext, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import (
    FlagsType,
    FuncType,
    LinkerInstance,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    TupleType,
    ValType,
    VariantType,
)
from wasmtime.component import _types as wasmtime_types

_VAL = ffi.wasmtime_component_val_t
_SIZE = ctypes.sizeof(_VAL)
_KIND_AT: int = _VAL.kind.offset
_U8_AT: int = (
    _VAL.of.offset + ffi.wasmtime_component_valunion_t.u8.offset  # type: ignore[attr-defined]
)
_U8_KIND = ffi.WASMTIME_COMPONENT_U8.value
_LIST_KIND = ffi.WASMTIME_COMPONENT_LIST.value


class _ThreadLocalSet:
    """Stands in for wasmtime-py's module-global scratch set, one set per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _set(self) -> set[type]:
        current: set[type] | None = getattr(self._local, "value", None)
        if current is None:
            current = set()
            self._local.value = current
        return current

    def clear(self) -> None:
        self._set().clear()

    def add(self, item: type) -> None:
        self._set().add(item)

    def __iter__(self) -> Iterator[type]:
        return iter(self._set())


_original_to_c = ListType.convert_to_c
_original_from_c = ListType.convert_from_c


def _bytes_to_c(self: ListType, store: Any, val: Any, ptr: Any) -> None:
    if not isinstance(val, bytes) or not self._is_bytes():
        _original_to_c(self, store, val, ptr)
        return
    count = len(val)
    layout = bytearray(count * _SIZE)
    layout[_KIND_AT::_SIZE] = bytes([_U8_KIND]) * count
    layout[_U8_AT::_SIZE] = val
    raw = ffi.wasmtime_component_vallist_t()
    if count:
        items = (_VAL * count).from_buffer(layout)
        ffi.wasmtime_component_vallist_new(ctypes.byref(raw), count, items)  # copies the array
    else:
        ffi.wasmtime_component_vallist_new_empty(ctypes.byref(raw))
    ptr.contents.kind = _LIST_KIND
    ptr.contents.of.list = raw


def _bytes_from_c(self: ListType, c: Any) -> Any:
    if c.kind != _LIST_KIND or not self._is_bytes():
        return _original_from_c(self, c)
    count = c.of.list.size
    data = ctypes.string_at(c.of.list.data, count * _SIZE)[_U8_AT::_SIZE] if count else b""
    ffi.wasmtime_component_vallist_delete(ctypes.byref(c.of.list))
    return data


def _remembered(read: Callable[[Any], Any]) -> property:
    """A type's property read once: a component type never changes."""
    slot = f"_remembered_{read.__name__}"

    def get(self: Any) -> Any:
        try:
            return self.__dict__[slot]
        except KeyError:
            value = self.__dict__[slot] = read(self)
            return value

    return property(get)


def _remember_once(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    slot = f"_remembered_{method.__name__}"

    def call(self: Any) -> Any:
        try:
            return self.__dict__[slot]
        except KeyError:
            value = self.__dict__[slot] = method(self)
            return value

    return call


HostFunc = Callable[..., Any]
_CALLS: dict[int, tuple[HostFunc, list[ValType], ValType | None]] = {}
_ids = itertools.count(1)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _call(
    data: Any, context: Any, ty: Any, args: Any, nargs: int, results: Any, nresults: int
) -> int:
    func, params, result = _CALLS[data or 0]
    store = StoreContext(context)
    try:
        values = [param.convert_from_c(args[i]) for i, param in enumerate(params)]
        value = func(store, *values)
        if result is not None:
            result.convert_to_c(store, value, results)
        return 0
    except WasmtimeError as exc:
        error = exc
    except Exception as exc:
        error = WasmtimeError(f"host function failed: {type(exc).__name__}: {exc}")
    finally:
        store._invalidate()
    pointer: int = ctypes.cast(error._consume(), ctypes.c_void_p).value or 0
    return pointer


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _forget(data: Any) -> None:
    _CALLS.pop(data or 0, None)


def add_func(instance: LinkerInstance, name: str, func: HostFunc, fty: FuncType) -> None:
    """Define `func(store, *args)` under `name`, converting with the link-time types of `fty`."""
    key = next(_ids)
    _CALLS[key] = (func, [param for _, param in fty.params], fty.result)
    encoded = name.encode()
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(encoded), len(encoded), _call, key, _forget
    )
    if error:
        raise WasmtimeError._from_ptr(error)


def install() -> None:
    """Apply the fixes (idempotent)."""
    if isinstance(wasmtime_types.case_test_cache, _ThreadLocalSet):
        return
    wasmtime_types.case_test_cache = _ThreadLocalSet()  # type: ignore[assignment]
    ListType.convert_to_c = _bytes_to_c  # type: ignore[method-assign]
    ListType.convert_from_c = _bytes_from_c  # type: ignore[method-assign]
    for cls, names in (
        (ListType, ["element"]),
        (RecordType, ["fields"]),
        (TupleType, ["elements"]),
        (VariantType, ["cases"]),
        (OptionType, ["payload"]),
        (ResultType, ["ok", "err"]),
        (FlagsType, ["names"]),
    ):
        for name in names:
            setattr(cls, name, _remembered(getattr(cls, name).fget))
    for cls in (VariantType, OptionType, ResultType):
        cls._tagged = _remember_once(cls._tagged)  # type: ignore[method-assign,assignment]
    ListType._is_bytes = _remember_once(ListType._is_bytes)  # type: ignore[method-assign,assignment]

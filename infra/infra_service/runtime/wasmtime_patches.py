"""Two fixes to wasmtime-py 50's component value conversion, installed once per process.

- Thread safety: case matching for untagged variants uses one module-global scratch set, so
  two threads converting values at once can pick each other's case. Each thread gets its own.
- Speed: a `list<u8>` is converted one byte at a time in Python (a 4 KiB body chunk costs
  milliseconds). Bytes are laid into (and read out of) the C value array with slice copies.
"""

import ctypes
import threading
from collections.abc import Iterator
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import ListType
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


def install() -> None:
    """Apply both fixes (idempotent)."""
    if not isinstance(wasmtime_types.case_test_cache, _ThreadLocalSet):
        wasmtime_types.case_test_cache = _ThreadLocalSet()  # type: ignore[assignment]
    ListType.convert_to_c = _bytes_to_c  # type: ignore[method-assign]
    ListType.convert_from_c = _bytes_from_c  # type: ignore[method-assign]

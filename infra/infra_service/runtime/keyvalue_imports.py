"""fermyon:spin/key-value and wasi:keyvalue over the app's store, with Spin's store-name check.

A component may open only the stores its manifest lists in `key_value_stores`
(else `access-denied`, as Spin); of those, only `default` exists here (else `no-such-store`).
"""

import sqlite3
from collections.abc import Callable
from functools import wraps
from typing import Any

from wasmtime.component import Variant

from infra_service.runtime.context import Invocation
from infra_service.runtime.keyvalue import DEFAULT_STORE, KeyValueStore
from infra_service.runtime.wit_values import Err, Ok


class StoreHandle:
    def __init__(self, label: str) -> None:
        self.label = label


def _open(inv: Invocation, label: str) -> Ok | Err:
    if not inv.app.store_allowed(label):
        component = inv.app.manifest.component_id
        inv.notice(
            f"kv-denied:{label}",
            f"Component '{component}' may not use the key-value store '{label}'. To allow it, "
            f"add 'key_value_stores = [\"{label}\"]' to the manifest component section.",
        )
        return Err(Variant("access-denied"))
    if label != DEFAULT_STORE:
        return Err(Variant("no-such-store"))
    return Ok(StoreHandle(label))


def _store_call(operation: Callable[..., Any]) -> Callable[..., Ok | Err]:
    """Run `operation(store, *args)` on the app's store; a database error is the `other` case."""

    @wraps(operation)
    def call(inv: Invocation, handle: StoreHandle, *args: Any) -> Ok | Err:
        try:
            return Ok(operation(inv.app.store(), *args))
        except (sqlite3.Error, ValueError) as exc:
            return Err(Variant("other", f"key-value store error: {exc}"))

    return call


def _list_keys(store: KeyValueStore, cursor: str | None) -> dict[str, Any]:
    return {"keys": store.keys(), "cursor": None}


def _get_many(store: KeyValueStore, keys: list[str]) -> list[tuple[str, bytes | None]]:
    return [(key, store.get(key)) for key in keys]


def _set_many(store: KeyValueStore, pairs: list[tuple[str, bytes]]) -> None:
    for key, value in pairs:
        store.set(key, value)


def _delete_many(store: KeyValueStore, keys: list[str]) -> None:
    for key in keys:
        store.delete(key)


_get = _store_call(KeyValueStore.get)
_set = _store_call(KeyValueStore.set)
_delete = _store_call(KeyValueStore.delete)
_exists = _store_call(KeyValueStore.exists)

FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "fermyon:spin/key-value@2.0.0": {
        "[static]store.open": _open,
        "[method]store.get": _get,
        "[method]store.set": _set,
        "[method]store.delete": _delete,
        "[method]store.exists": _exists,
        "[method]store.get-keys": _store_call(KeyValueStore.keys),
    },
    "wasi:keyvalue/store@0.2.0-draft2": {
        "open": _open,
        "[method]bucket.get": _get,
        "[method]bucket.set": _set,
        "[method]bucket.delete": _delete,
        "[method]bucket.exists": _exists,
        "[method]bucket.list-keys": _store_call(_list_keys),
    },
    "wasi:keyvalue/atomics@0.2.0-draft2": {
        "increment": _store_call(KeyValueStore.increment),
    },
    "wasi:keyvalue/batch@0.2.0-draft2": {
        "get-many": _store_call(_get_many),
        "set-many": _store_call(_set_many),
        "delete-many": _store_call(_delete_many),
    },
}

"""Component values between host code and wasmtime-py: one plain form, converted per WIT type.

wasmtime-py 50 picks the case of a `result`/`option`/`variant` from the Python type of the value
when the cases' Python types do not overlap ("untagged"), and wants a `Variant(tag, payload)`
when they do. Which form a function needs therefore depends on its WIT type. Host code here
always speaks one form — `Ok(x)`/`Err(x)` for results, `None`/value for options,
`Variant(tag, payload)` for variants, `dict` for records, Python objects for resources — and the
converters built once per function type at link time translate it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import StoreContext
from wasmtime.component import (
    U8,
    BorrowType,
    ListType,
    OptionType,
    OwnType,
    Record,
    RecordType,
    ResourceAny,
    ResourceType,
    ResultType,
    TupleType,
    ValType,
    Variant,
    VariantType,
)


@dataclass(frozen=True, slots=True)
class Ok:
    value: Any = None


@dataclass(frozen=True, slots=True)
class Err:
    value: Any = None


class Inexpressible(Exception):
    """wasmtime-py would lower this value as another case of its type (see module docstring)."""


Lower = Callable[[Any], Any]
Lift = Callable[[StoreContext, Any], Any]


@dataclass(frozen=True)
class ResourceHooks:
    """How resources cross: a host type id per WIT resource type, and the handle table."""

    type_id: Callable[[ResourceType], int]
    own: Callable[[int, object], Any]  # (type id, new host object) -> the handle to return
    find: Callable[[StoreContext, ResourceAny, bool], object]  # (store, handle, owned) -> object


def _classes(ty: ValType | None) -> tuple[type, ...] | None:
    """The Python types wasmtime-py accepts for a case (None: a case without payload)."""
    if ty is None:
        return None
    found: set[type] = set()
    ty.add_classes(found)
    return tuple(found)


def _matcher(cases: list[tuple[str, ValType | None]]) -> Callable[[Any], str]:
    """Which case wasmtime-py's untagged lowering would choose for a lowered payload."""
    table = [(name, _classes(ty)) for name, ty in cases]

    def choose(payload: Any) -> str:
        for name, classes in table:
            if classes is None:
                if payload is None:
                    return name
            elif isinstance(payload, classes):
                return name
        raise Inexpressible(f"no case accepts {type(payload).__name__}")

    return choose


def _tagged(ty: ResultType | OptionType | VariantType) -> bool:
    return bool(ty._tagged())


def lowerer(ty: ValType, hooks: ResourceHooks) -> Lower | None:
    """A converter from the plain form to wasmtime-py's, or None where they are the same."""
    if isinstance(ty, OwnType):
        type_id = hooks.type_id(ty.ty)
        return lambda value: hooks.own(type_id, value)
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return lambda value: bytes(value) if not isinstance(value, bytes) else value
        element = lowerer(ty.element, hooks)
        if element is None:
            return None
        return lambda value: [element(item) for item in value]
    if isinstance(ty, TupleType):
        parts = [lowerer(item, hooks) for item in ty.elements]
        if all(part is None for part in parts):
            return None
        return lambda value: tuple(
            part(item) if part else item for part, item in zip(parts, value, strict=True)
        )
    if isinstance(ty, RecordType):
        return _record_lowerer(ty, hooks)
    if isinstance(ty, OptionType | ResultType | VariantType):
        return _cases_lowerer(ty, hooks)
    return None


def _record_lowerer(ty: RecordType, hooks: ResourceHooks) -> Lower:
    fields = [(name, lowerer(field, hooks)) for name, field in ty.fields]

    def lower(value: dict[str, Any]) -> Record:
        record = Record()
        for name, convert in fields:
            item = value[name]
            setattr(record, name, convert(item) if convert else item)
        return record

    return lower


def _cases_lowerer(ty: OptionType | ResultType | VariantType, hooks: ResourceHooks) -> Lower:
    cases: list[tuple[str, ValType | None]]
    if isinstance(ty, OptionType):
        cases = [("none", None), ("some", ty.payload)]
    elif isinstance(ty, ResultType):
        cases = [("ok", ty.ok), ("err", ty.err)]
    else:
        cases = ty.cases
    payloads = {name: (lowerer(case, hooks) if case is not None else None) for name, case in cases}
    tagged = _tagged(ty)
    choose = None if tagged else _matcher(cases)

    def split(value: Any) -> tuple[str, Any]:
        if isinstance(ty, OptionType):
            return ("none", None) if value is None else ("some", value)
        if isinstance(ty, ResultType):
            if isinstance(value, Ok):
                return "ok", value.value
            if isinstance(value, Err):
                return "err", value.value
            raise TypeError(f"expected Ok or Err, got {value!r}")
        if not isinstance(value, Variant):
            raise TypeError(f"expected Variant, got {value!r}")
        return value.tag, value.payload

    def lower(value: Any) -> Any:
        tag, payload = split(value)
        if tag not in payloads:
            raise ValueError(f"no case {tag!r}")
        convert = payloads[tag]
        lowered = convert(payload) if convert is not None and payload is not None else payload
        if tagged:
            return Variant(tag, lowered)
        assert choose is not None
        if choose(lowered) != tag:
            raise Inexpressible(f"case {tag!r} cannot be told apart by wasmtime-py")
        return lowered

    return lower


def lifter(ty: ValType, hooks: ResourceHooks) -> Lift | None:
    """A converter from wasmtime-py's form to the plain one, or None where they are the same."""
    if isinstance(ty, OwnType | BorrowType):
        owned = isinstance(ty, OwnType)
        return lambda store, value: hooks.find(store, value, owned)
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return None
        element = lifter(ty.element, hooks)
        if element is None:
            return None
        return lambda store, value: [element(store, item) for item in value]
    if isinstance(ty, TupleType):
        parts = [lifter(item, hooks) for item in ty.elements]
        if all(part is None for part in parts):
            return None
        return lambda store, value: tuple(
            part(store, item) if part else item for part, item in zip(parts, value, strict=True)
        )
    if isinstance(ty, RecordType):
        fields = [(name, lifter(field, hooks)) for name, field in ty.fields]

        def lift_record(store: StoreContext, value: Any) -> dict[str, Any]:
            items = {name: getattr(value, name) for name, _ in fields}
            return {
                name: convert(store, items[name]) if convert else items[name]
                for name, convert in fields
            }

        return lift_record
    if isinstance(ty, OptionType | ResultType | VariantType):
        return _cases_lifter(ty, hooks)
    return None


def _cases_lifter(ty: OptionType | ResultType | VariantType, hooks: ResourceHooks) -> Lift:
    cases: list[tuple[str, ValType | None]]
    if isinstance(ty, OptionType):
        cases = [("none", None), ("some", ty.payload)]
    elif isinstance(ty, ResultType):
        cases = [("ok", ty.ok), ("err", ty.err)]
    else:
        cases = ty.cases
    payloads = {name: (lifter(case, hooks) if case is not None else None) for name, case in cases}
    tagged = _tagged(ty)
    choose = None if tagged else _matcher(cases)

    def lift(store: StoreContext, value: Any) -> Any:
        if tagged:
            tag, payload = value.tag, value.payload
        else:
            assert choose is not None
            tag, payload = choose(value), value
        convert = payloads[tag]
        if convert is not None and payload is not None:
            payload = convert(store, payload)
        if isinstance(ty, OptionType):
            return payload if tag == "some" else None
        if isinstance(ty, ResultType):
            return Ok(payload) if tag == "ok" else Err(payload)
        return Variant(tag, payload)

    return lift

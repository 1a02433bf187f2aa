"""Hostile request bodies derived from the OpenAPI description, field by field.

For a write operation's JSON body, `field_paths` walks its schema (through `$ref`s, into
nested objects and maps), and `mutations` gives, for each field, the values a careless or
hostile client sends: null, wrong types, empty and blank strings, unicode (multi-byte, RTL,
NUL, an unpaired surrogate), lengths at and past each bound, and unknown fields. Each case is
the operation's valid baseline body with one field replaced.
"""

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ABSENT = object()  # a mutation that removes the field
UNICODE = [
    "ünïcödé ✓ 😀",
    "\u202egnp.exe",  # right-to-left override
    "a\u0000b",
    "line\nbreak",
    "a\ud800b",  # an unpaired surrogate: valid JSON (\ud800), not valid Unicode
    "\ufeffbom",
    "   ",
]
WRONG_TYPES = [12345, True, ["x"], {"x": "y"}]
# Longer than any sane field, well under the 1 MiB body limit, and over DynamoDB's 400 KB item.
HUGE = 450_000


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    tags: tuple[str, ...]
    body_schema: dict[str, Any]
    documented: frozenset[int]


@dataclass(frozen=True)
class Case:
    """One field of a body set to one value (`path` empty: `value` is the whole body)."""

    path: tuple[str, ...]
    label: str
    value: Any

    @property
    def field(self) -> str:
        return ".".join(self.path) or "body"

    def apply(self, baseline: dict[str, Any]) -> Any:
        return _with(baseline, self.path, self.value) if self.path else self.value


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` (JSON pointers into the document) until a schema without one."""
    while "$ref" in schema:
        pointer = schema["$ref"]
        assert pointer.startswith("#/"), pointer
        target: Any = document
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
    return schema


def _variants(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (`anyOf` of pydantic's `X | None`)."""
    schema = resolve(document, schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return [schema]
    found = []
    for option in options:
        option = resolve(document, option)
        if option.get("type") != "null":
            found.extend(_variants(document, option))
    return found


def write_operations(document: dict[str, Any]) -> list[Operation]:
    """Every POST/PUT/PATCH whose body is JSON."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"post", "put", "patch"}:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    tags=tuple(operation.get("tags", ())),
                    body_schema=content["application/json"]["schema"],
                    documented=_documented(operation),
                )
            )
    return found


def read_operations(document: dict[str, Any]) -> list[Operation]:
    """Every GET that answers JSON (event streams and the like left out)."""
    found = []
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or path.endswith("/events"):
            continue
        ok = operation["responses"].get("200", {}).get("content", {})
        if "application/json" not in ok:
            continue
        found.append(
            Operation(
                method="GET",
                path=path,
                tags=tuple(operation.get("tags", ())),
                body_schema={},
                documented=_documented(operation),
            )
        )
    return found


def _documented(operation: dict[str, Any]) -> frozenset[int]:
    return frozenset(int(code) for code in operation["responses"] if code.isdigit())


def field_paths(
    document: dict[str, Any], schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, schema) of every property, depth first; nested objects are walked too."""
    for variant in _variants(document, schema):
        for name, sub in variant.get("properties", {}).items():
            path = (*prefix, name)
            yield path, sub
            if len(path) < 3:
                yield from field_paths(document, sub, path)


def _string_bounds(variant: dict[str, Any]) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = [(f"unicode {value!r}", value) for value in UNICODE]
    if "maxLength" in variant:
        n = variant["maxLength"]
        cases += [
            (f"{n} chars (max)", "a" * n),
            (f"{n + 1} chars (max+1)", "a" * (n + 1)),
            (f"{n} four-byte chars", "😀" * n),
        ]
    else:
        cases.append((f"{HUGE} chars (no bound declared)", "a" * HUGE))
    if variant.get("minLength", 0) > 1:
        cases.append(("min-1 chars", "a" * (variant["minLength"] - 1)))
    return cases


def _number_bounds(variant: dict[str, Any]) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = [("10**30", 10**30), ("-1", -1), ("0", 0), ("1.5", 1.5)]
    for bound, step in (("minimum", -1), ("maximum", 1)):
        if bound in variant:
            edge = int(variant[bound])
            cases += [(bound, edge), (f"{bound}{step:+d}", edge + step)]
    return cases


def _array_bounds(variant: dict[str, Any]) -> list[tuple[str, Any]]:
    n = variant.get("maxItems", 1000)
    return [("empty list", []), ("list of null", [None]), (f"{n + 1} items", ["a"] * (n + 1))]


def _map_bounds(variant: dict[str, Any]) -> list[tuple[str, Any]]:
    # A map (variables, resource limits…): odd keys and values, and its size bounds.
    n = variant.get("maxProperties", 200)
    return [
        ("empty map", {}),
        ("empty key", {"": "x"}),
        ("unicode key", {"ключ😀": "x"}),
        ("surrogate key", {"a\ud800": "x"}),
        ("null value", {"name": None}),
        ("number value", {"name": 1}),
        ("nested value", {"name": {"a": "b"}}),
        ("4097-byte value", {"name": "a" * 4097}),
        ("huge value", {"name": "a" * HUGE}),
        (f"{n + 1} entries", {f"v{i}": "x" for i in range(n + 1)}),
        ("50 entries of 4 KiB", {f"v{i}": "a" * 4096 for i in range(50)}),
    ]


_BY_KIND = {
    "string": _string_bounds,
    "integer": _number_bounds,
    "number": _number_bounds,
    "array": _array_bounds,
    "map": _map_bounds,
}


def mutations(document: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs to put in place of one field."""
    cases: list[tuple[str, Any]] = [("null", None), ("absent", ABSENT), ("empty string", "")]
    cases += [(f"wrong type {value!r}", value) for value in WRONG_TYPES]
    for variant in _variants(document, schema):
        kind = variant.get("type", "any")
        if kind == "object" and "properties" not in variant:
            kind = "map"
        cases += _BY_KIND.get(kind, lambda _: [])(variant)
    return cases


def _with(body: Any, path: tuple[str, ...], value: Any) -> Any:
    body = copy.deepcopy(body) if isinstance(body, dict) else {}
    target = body
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if value is ABSENT:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return body


def cases(document: dict[str, Any], operation: Operation) -> list[Case]:
    """Every one-field mutation of a body, plus unknown fields at each object level."""
    found = [
        Case(path=(), label="not an object", value=["not", "an", "object"]),
        Case(path=("unknown_field",), label="unknown field", value=1),
    ]
    for path, schema in field_paths(document, operation.body_schema):
        for label, value in mutations(document, schema):
            found.append(Case(path=path, label=label, value=value))
        if any("properties" in variant for variant in _variants(document, schema)):
            found.append(Case(path=(*path, "unknown_field"), label="unknown nested field", value=1))
    return found


def fill_path(template: str, values: dict[str, str]) -> str:
    """`/api/functions/{function_id}` with the ids at hand (unknown parameters: a dummy)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "unknown-id"), template)


def sample(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A plausible valid value for a schema (for operations without a hand-written baseline)."""
    for variant in _variants(document, schema):
        if "default" in variant:
            return variant["default"]
        if "enum" in variant:
            return variant["enum"][0]
        if "const" in variant:
            return variant["const"]
        kind = variant.get("type")
        if kind == "object":
            required = variant.get("required", [])
            props = variant.get("properties", {})
            return {name: sample(document, props[name]) for name in required if name in props}
        if kind == "integer":
            return int(variant.get("minimum", 1))
        if kind == "number":
            return float(variant.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "array":
            return []
        if kind == "string":
            for candidate in ("hello", "a", "a1", "0"):
                pattern = variant.get("pattern")
                if (pattern is None or re.search(pattern, candidate)) and len(
                    candidate
                ) >= variant.get("minLength", 0):
                    return candidate
            return "a" * variant.get("minLength", 1)
    return None

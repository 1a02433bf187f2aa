"""Field types of request bodies: every value a client sends is bounded before it is stored.

A DynamoDB item holds at most 400 KB, keys and indexed attributes must be non-empty, and every
string must be encodable as UTF-8 (a lone surrogate, which JSON's `\\ud800` escape can carry, is
not). The bounds below are in characters *and* UTF-8 bytes, so that an item built from a valid
request can always be written and read back; what could not be stored is refused with 422
before anything is written.
"""

import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

# Spin variable names are lower-case snake_case (they become SPIN_VARIABLE_<UPPER>).
VARIABLE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_VARIABLES = 50
MAX_VARIABLE_VALUE_BYTES = 4096
MAX_VARIABLES_BYTES = 64 * 1024
MAX_DESCRIPTION_CHARS = 1000
MAX_MANIFEST_BYTES = 64 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, LF and CR allowed


def _utf8_size(value: str) -> int:
    return len(value.encode("utf-8", errors="surrogatepass"))


def _no_surrogates(value: Any) -> None:
    """Refuse strings UTF-8 cannot carry, anywhere in a parsed JSON body (keys included)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"text contains an unpaired surrogate (\\u{ord(value[exc.start]):04x}), "
                "which is not valid Unicode"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_surrogates(key)
            _no_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _no_surrogates(item)


class RequestModel(BaseModel):
    """A request body: unknown fields refused, every string valid Unicode."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        _no_surrogates(data)
        return data


def max_bytes(limit: int) -> AfterValidator:
    """A string of at most `limit` bytes once encoded as UTF-8."""

    def check(value: str) -> str:
        if _utf8_size(value) > limit:
            raise ValueError(f"at most {limit} bytes (UTF-8)")
        return value

    return AfterValidator(check)


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters and line breaks are not allowed")
    return value


def _token(value: str) -> str:
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("spaces, control and invisible characters are not allowed")
    return value


def _text(value: str) -> str:
    if _TEXT_CONTROL.search(value):
        raise ValueError("control characters other than tab and line breaks are not allowed")
    return value


# A short human-readable name: one line, no control characters, not blank.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_single_line),
]
Description = Annotated[
    str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_text)
]
# An id as the API hands them out (ULIDs); anything longer cannot name one of ours.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_single_line)
]
# s3:// paths, image references and the like: bounded, no spaces or invisible characters.
Reference = Annotated[str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_token)]
Manifest = Annotated[
    str, StringConstraints(min_length=1), max_bytes(MAX_MANIFEST_BYTES), AfterValidator(_text)
]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)]
VariableValue = Annotated[str, max_bytes(MAX_VARIABLE_VALUE_BYTES), AfterValidator(_text)]


def _variables_fit(value: dict[str, str]) -> dict[str, str]:
    total = sum(_utf8_size(name) + _utf8_size(text) for name, text in value.items())
    if total > MAX_VARIABLES_BYTES:
        raise ValueError(f"the variables take {total} bytes; at most {MAX_VARIABLES_BYTES}")
    return value


Variables = Annotated[
    dict[VariableName, VariableValue],
    Field(max_length=MAX_VARIABLES),
    AfterValidator(_variables_fit),
]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional_not_null() -> Any:
    """A PATCH field: absent leaves the value unchanged; `null` is refused (the schema says so).

    The field's type stays non-nullable, so a null is a validation error and can never be
    stored where a reader expects a value.
    """
    return Field(default=None, json_schema_extra=_drop_default)

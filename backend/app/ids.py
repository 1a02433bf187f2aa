"""Identifiers: time-ordered (so listings follow creation) with 80 random bits (unguessable)."""

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id() -> str:
    """A 26-character, lexicographically time-ordered random id (ULID layout)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    """Whether a path parameter can be an id at all (cheap guard before any lookup)."""
    return len(value) == 26 and all(char in _ALPHABET for char in value)

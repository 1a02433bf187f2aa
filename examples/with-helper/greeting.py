"""Greeting logic kept apart from the HTTP handler, so it can be tested without Spin."""


def greet(name: str) -> str:
    """A friendly one-line greeting for `name` (trimmed, at most 64 characters)."""
    cleaned = " ".join(name.split())[:64] or "world"
    return f"Hello, {cleaned}!\n"

"""Multipart forms: a field or file named twice is refused, not silently taken from one part."""

from collections import Counter

from fastapi import Request

from app.errors import InvalidInput


async def refuse_repeated_parts(request: Request) -> None:
    """An app-wide dependency; reads the form FastAPI parses anyway (Starlette caches it)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return
    form = await request.form()
    repeated = sorted(
        name for name, count in Counter(name for name, _ in form.multi_items()).items() if count > 1
    )
    if repeated:
        raise InvalidInput(
            "The form names "
            + ", ".join(repr(name[:100]) for name in repeated[:5])
            + " more than once; send each field and file once.",
            code="DUPLICATE_FORM_FIELD",
            fields=repeated[:20],
        )

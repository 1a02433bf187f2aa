"""Query parameters shared by every listing."""

from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page.")]
NextToken = Annotated[
    str | None,
    Query(max_length=2048, description="The `next_token` of the previous page."),
]

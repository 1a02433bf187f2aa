"""The live build log (docs/contract.md, "The build log while it runs").

`GET /v1/builds/{job_id}/log?offset=N&limit=M` answers the bytes of the job's log from byte
`offset` (at most `limit`), as text: the service cuts a chunk at a UTF-8 character boundary, so
`next_offset - offset` is the chunk's length in bytes and a reader that asks again from
`next_offset` loses and repeats nothing. `finished` is true once the job has finished and
`next_offset` is the log's end: nothing more will ever be appended.
"""

from typing import Final

from pydantic import BaseModel, Field

LOG_CHUNK_DEFAULT: Final = 64 * 1024
LOG_CHUNK_MAX: Final = 1024 * 1024


def build_log_path(job_id: str) -> str:
    """`/v1/builds/{job_id}/log`."""
    return f"/v1/builds/{job_id}/log"


class BuildLogChunk(BaseModel):
    job_id: str
    offset: int = Field(ge=0, description="The byte offset the chunk starts at (as asked).")
    next_offset: int = Field(ge=0, description="Where the next read starts.")
    size: int = Field(ge=0, description="The log's length in bytes so far.")
    text: str = Field(description="The log's bytes [offset, next_offset), decoded as UTF-8.")
    finished: bool = Field(description="The job has finished and the whole log has been sent.")


def utf8_chunk(data: bytes) -> bytes:
    """`data` without a UTF-8 character cut at its end (at most 3 bytes are held back)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: everything before it is whole
            return data
        if byte >= 0xC0:  # a lead byte: is its character complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data

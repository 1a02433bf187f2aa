"""Low-level reading of a zip file's structure, done by hand where `zipfile` trusts too much.

CPython 3.11.7 lacks the fix for CVE-2024-0450 (overlapping entries), parses the whole central
directory into memory before anyone can count it, and stops inflating an entry at its declared
size. These helpers bound the central directory, check that entries do not overlap, and inflate
entries themselves, counting the bytes that really come out.
"""

import itertools
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from app.errors import InvalidInput
from contract import sources

CHUNK_SIZE = 64 * 1024

LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_CENTRAL_HEADER_SIGNATURE = b"PK\x01\x02"
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END_SIGNATURE = b"PK\x06\x06"

_END = struct.Struct("<4s4H2LH")  # end of central directory record, 22 bytes
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_CENTRAL_HEADER_SIZE = 46
_LOCAL_HEADER_SIZE = 30
_MAX_COMMENT = 0xFFFF


def invalid_archive(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="INVALID_ARCHIVE")


@dataclass(frozen=True)
class CentralDirectory:
    offset: int
    size: int


def locate_central_directory(fh: BinaryIO, file_size: int) -> CentralDirectory:
    """Find the central directory from the end record; refuse data before or after the archive."""
    tail_size = min(file_size, _END.size + _MAX_COMMENT)
    tail_start = file_size - tail_size
    fh.seek(tail_start)
    tail = fh.read(tail_size)
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END.size:
        raise invalid_archive("The file is not a complete zip archive (its end record is missing).")
    _, disk, cd_disk, _, entries, cd_size, cd_offset, comment_length = _END.unpack_from(tail, at)
    end_at = tail_start + at
    if end_at + _END.size + comment_length != file_size:
        raise invalid_archive("The zip archive has unexpected data after its end record.")
    record_at = end_at
    if entries == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        record_at, cd_size, cd_offset, disk, cd_disk = _zip64_directory(fh, end_at)
    if disk or cd_disk:
        raise invalid_archive("Multi-part (split) zip archives are not supported.")
    if cd_offset + cd_size != record_at:
        # zipfile would silently shift every offset; a polyglot or a damaged file gets here.
        raise invalid_archive("The zip archive's central directory is not where its end says.")
    return CentralDirectory(offset=cd_offset, size=cd_size)


def _zip64_directory(fh: BinaryIO, end_at: int) -> tuple[int, int, int, int, int]:
    if end_at < _ZIP64_LOCATOR.size:
        raise invalid_archive("The zip archive's zip64 end record is missing.")
    fh.seek(end_at - _ZIP64_LOCATOR.size)
    signature, _, record_at, _ = _ZIP64_LOCATOR.unpack(fh.read(_ZIP64_LOCATOR.size))
    fh.seek(record_at)
    record = fh.read(_ZIP64_END.size)
    if signature != _ZIP64_LOCATOR_SIGNATURE or len(record) < _ZIP64_END.size:
        raise invalid_archive("The zip archive's zip64 end record is missing.")
    fields = _ZIP64_END.unpack(record)
    if fields[0] != _ZIP64_END_SIGNATURE:
        raise invalid_archive("The zip archive's zip64 end record is damaged.")
    disk, cd_disk, cd_size, cd_offset = fields[4], fields[5], fields[8], fields[9]
    return record_at, cd_size, cd_offset, disk, cd_disk


def count_entries(fh: BinaryIO, directory: CentralDirectory, *, limit: int) -> int:
    """Walk the central directory header by header; stop once more than `limit` are seen."""
    fh.seek(directory.offset)
    walked = count = 0
    while walked < directory.size:
        header = fh.read(_CENTRAL_HEADER_SIZE)
        if len(header) < _CENTRAL_HEADER_SIZE or header[:4] != _CENTRAL_HEADER_SIGNATURE:
            raise invalid_archive("The zip archive's central directory is damaged.")
        variable = sum(struct.unpack_from("<3H", header, 28))  # name, extra, comment lengths
        fh.seek(variable, os.SEEK_CUR)
        walked += _CENTRAL_HEADER_SIZE + variable
        count += 1
        if count > limit:
            break
    return count


def data_offsets(
    fh: BinaryIO, infos: Sequence[zipfile.ZipInfo], directory: CentralDirectory
) -> tuple[list[int], tuple[zipfile.ZipInfo, zipfile.ZipInfo] | None]:
    """Where each entry's compressed data starts, and the first pair of entries that overlap.

    Overlapping entries (several central records sharing data, or one entry's data quoting the
    next entry's header) are how "non-recursive" zip bombs multiply their output.
    """
    starts: list[int] = []
    for info in infos:
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER_SIZE)
        if len(header) < _LOCAL_HEADER_SIZE or header[:4] != LOCAL_HEADER_SIGNATURE:
            raise invalid_archive(f"The archive entry {shown(info)} has a damaged local header.")
        name_length, extra_length = struct.unpack_from("<2H", header, 26)
        starts.append(info.header_offset + _LOCAL_HEADER_SIZE + name_length + extra_length)
    spans = [
        (info.header_offset, start + info.compress_size, info)
        for start, info in zip(starts, infos, strict=True)
    ]
    spans.sort(key=lambda span: span[:2])
    for (_, end, info), (next_offset, _, next_info) in itertools.pairwise(spans):
        if next_offset < end:
            return starts, (info, next_info)
    if spans and spans[-1][1] > directory.offset:
        raise invalid_archive(
            f"The archive entry {shown(spans[-1][2])} runs into the central directory."
        )
    return starts, None


def local_name_matches(fh: BinaryIO, info: zipfile.ZipInfo) -> bool:
    """Whether the local header names the entry as the central directory does."""
    fh.seek(info.header_offset + 26)
    name_length, _ = struct.unpack("<2H", fh.read(4))
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    return fh.read(name_length) == info.orig_filename.encode(encoding)


def inflate(
    fh: BinaryIO, info: zipfile.ZipInfo, data_start: int, count: Callable[[int], None]
) -> None:
    """Inflate one entry chunk by chunk, passing each output size to `count` (which may raise).

    Checks the output against the entry's declared size and CRC; nothing is kept.
    """
    # Some writers give an empty entry no deflate stream at all.
    deflated = info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size > 0
    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
    produced = crc = 0

    def emit(data: bytes) -> None:
        nonlocal produced, crc
        produced += len(data)
        crc = zlib.crc32(data, crc)
        count(len(data))

    fh.seek(data_start)
    left = info.compress_size
    while left > 0 and not (inflater and inflater.eof):
        raw = fh.read(min(CHUNK_SIZE, left))
        if not raw:
            raise invalid_archive(f"The archive entry {shown(info)} is truncated.")
        left -= len(raw)
        if inflater is None:
            emit(raw)
            continue
        try:
            # Bounded output per call; zlib may hold output back even when all input is taken.
            while raw or not inflater.eof:
                out = inflater.decompress(raw, CHUNK_SIZE)
                emit(out)
                raw = inflater.unconsumed_tail
                if not raw and len(out) < CHUNK_SIZE:
                    break
        except zlib.error as exc:
            raise invalid_archive(f"The archive entry {shown(info)} is corrupt.") from exc
    if inflater is not None and not inflater.eof:
        raise invalid_archive(f"The archive entry {shown(info)} is truncated.")
    if produced != info.file_size:
        raise invalid_archive(
            f"The archive entry {shown(info)} declares {info.file_size} bytes but holds {produced}."
        )
    if crc != info.CRC:
        raise invalid_archive(f"The archive entry {shown(info)} is corrupt (bad CRC-32).")


def shown(info_or_name: zipfile.ZipInfo | str) -> str:
    """An entry name safe to put in a message (contract.sources.shown)."""
    name = info_or_name.orig_filename if isinstance(info_or_name, zipfile.ZipInfo) else info_or_name
    return sources.shown(name)

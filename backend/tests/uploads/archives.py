"""Factories for zip archives, honest and hostile, written byte by byte where zipfile won't."""

import io
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

REGULAR_FILE = (stat.S_IFREG | 0o644) << 16
APP_SOURCE = (
    b"from spin_sdk import http\n\nclass IncomingHandler(http.IncomingHandler):\n    pass\n"
)

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


def write_zip(path: Path, files: dict[str, bytes], *, attrs: dict[str, int] | None = None) -> Path:
    """A normal deflated archive made by zipfile; `attrs` sets external_attr per name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (attrs or {}).get(name, REGULAR_FILE)
            archive.writestr(info, data)
    return path


@dataclass
class RawEntry:
    """One entry for `raw_zip`: anything zipfile refuses to write (NUL names, flags, offsets)."""

    name: bytes
    data: bytes = b""
    deflate: bool = True
    flags: int = 0
    method: int | None = None
    external_attr: int = REGULAR_FILE
    central_name: bytes | None = None  # a different name in the central directory
    point_at: int | None = None  # index of an earlier entry whose local header to reuse


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def local_header(
    name: bytes, *, crc: int, csize: int, usize: int, method: int, flags: int = 0
) -> bytes:
    return _LOCAL.pack(b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, csize, usize, len(name), 0)


def central_header(
    name: bytes,
    *,
    crc: int,
    csize: int,
    usize: int,
    method: int,
    offset: int,
    flags: int = 0,
    external_attr: int = REGULAR_FILE,
) -> bytes:
    fixed = _CENTRAL.pack(
        b"PK\x01\x02", 0x0314, 20, flags, method, 0, 0x21, crc, csize, usize,
        len(name), 0, 0, 0, 0, external_attr, offset,
    )  # fmt: skip
    return fixed + name


def end_record(*, entries: int, cd_size: int, cd_offset: int) -> bytes:
    return _END.pack(b"PK\x05\x06", 0, 0, entries, entries, cd_size, cd_offset, 0)


def raw_zip(entries: list[RawEntry]) -> bytes:
    """Assemble local headers, data, central directory and end record from `entries`."""
    body, central, offsets = b"", b"", []
    for entry in entries:
        packed = deflate(entry.data) if entry.deflate else entry.data
        method = entry.method if entry.method is not None else (8 if entry.deflate else 0)
        sizes = {"crc": zlib.crc32(entry.data), "csize": len(packed), "usize": len(entry.data)}
        if entry.point_at is None:
            offsets.append(len(body))
            head = local_header(entry.name, method=method, flags=entry.flags, **sizes)
            body += head + entry.name + packed
        else:
            offsets.append(offsets[entry.point_at])
        central += central_header(
            entry.central_name or entry.name, method=method, flags=entry.flags,
            offset=offsets[-1], external_attr=entry.external_attr, **sizes,
        )  # fmt: skip
    end = end_record(entries=len(entries), cd_size=len(central), cd_offset=len(body))
    return body + central + end


def quoted_overlap_bomb(*, files: int = 10, kernel_size: int = 1 << 20) -> bytes:
    """D. Fifield's "better zip bomb": each entry's data quotes (as a stored deflate block) the
    next entry's local header and then runs on into that entry's data, so every entry inflates
    the same kernel again."""
    kernel = bytes(kernel_size)
    names = [f"{index:02d}.bin".encode() for index in range(files)]
    headers: list[bytes] = [b""] * files
    data = deflate(kernel)
    for index in reversed(range(files)):
        quoted = b"".join(headers[index + 1 :])
        if index < files - 1:
            block = headers[index + 1]
            data = b"\x00" + struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block + data
        crc = zlib.crc32(kernel, zlib.crc32(quoted))
        usize = len(quoted) + kernel_size
        headers[index] = (
            local_header(names[index], crc=crc, csize=len(data), usize=usize, method=8)
            + names[index]
        )
    body = headers[0] + data
    central, offset = b"", 0
    for index in range(files):
        fields = _LOCAL.unpack(headers[index][: _LOCAL.size])
        crc, csize, usize = fields[6], fields[7], fields[8]
        central += central_header(
            names[index], crc=crc, csize=csize, usize=usize, method=8, offset=offset
        )
        offset += len(headers[index]) + 5
    end = end_record(entries=files, cd_size=len(central), cd_offset=len(body))
    return body + central + end


def patch_declared_size(archive: bytes, name: str, size: int) -> bytes:
    """Make both headers of entry `name` claim `size` uncompressed bytes."""
    patched = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as reader:
        info = reader.getinfo(name)
        cd_offset = reader.start_dir
    at = cd_offset
    while patched[at : at + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<3H", patched, at + 28)
        if patched[at + 46 : at + 46 + name_length] == name.encode():
            struct.pack_into("<L", patched, at + 24, size)
        at += 46 + name_length + extra_length + comment_length
    struct.pack_into("<L", patched, info.header_offset + 22, size)
    return bytes(patched)

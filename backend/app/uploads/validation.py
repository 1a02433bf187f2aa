"""Checks on an uploaded source already spooled to local disk (SPEC §6).

Pure and synchronous (the route runs them in a worker thread). Files are read in chunks, so
nothing proportional to a file's size is held in memory. Each refusal is a `DomainError` with a
stable code and a message that names the offending file or archive entry.
"""

import codecs
import os
import re
import struct
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, TypeVar

from app.errors import InvalidInput, Unprocessable, UnsupportedFileType
from app.uploads import zip_layout
from app.uploads.zip_layout import CHUNK_SIZE, LOCAL_HEADER_SIGNATURE, invalid_archive, shown
from contract import sources

T = TypeVar("T")
SourceKind = Literal["py", "zip"]
StrPath = str | os.PathLike[str]
# A path, or a binary file already open (an upload's spooled file): read from its start.
Source = StrPath | BinaryIO


@contextmanager
def _opened(source: Source) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            yield fh
        return
    source.seek(0)
    try:
        yield source
    finally:
        source.seek(0)


def _size_of(fh: BinaryIO) -> int:
    position = fh.tell()
    size = fh.seek(0, os.SEEK_END)
    fh.seek(position)
    return size


MAX_FILENAME_LENGTH = 100
FALLBACK_FILENAME = "upload"
_ALLOWED_TYPES = "upload a Python file (.py) or a zip archive (.zip)"
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_PATH_SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True)
class ArchiveSummary:
    """What a checked archive holds; `app_root` is "" when app.py is at the root."""

    entries: int
    uncompressed_bytes: int
    app_root: str


def sanitise_filename(raw: str | None) -> str:
    """A display- and key-safe file name: last path part, safe characters, at most 100 chars."""
    name = unicodedata.normalize("NFKC", raw or "")
    name = _PATH_SEPARATORS.split(name)[-1]
    # Drops control, bidi/format, surrogate and unassigned characters, and line separators.
    name = "".join(ch for ch in name if not _is_invisible(ch))
    name = _UNSAFE_RUN.sub("_", name).strip(".-")
    stem, dot, extension = name.rpartition(".")
    if len(name) > MAX_FILENAME_LENGTH:
        if dot and stem and len(extension) <= 16:
            name = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name if name.strip("_") else FALLBACK_FILENAME


def _is_invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("C") or category in ("Zl", "Zp")


def source_kind(filename: str) -> SourceKind:
    """Whether an upload is a Python file or a zip archive, by its final extension."""
    if "\x00" in filename or "%00" in filename:
        raise UnsupportedFileType(
            f"The file name {sanitise_filename(filename)!r} contains a NUL byte; {_ALLOWED_TYPES}.",
            code="UNSUPPORTED_FILE_TYPE",
        )
    base = _PATH_SEPARATORS.split(filename)[-1]
    stem, dot, extension = base.rpartition(".")
    extension = extension.lower()
    if dot and stem.strip() and extension == "py":
        return "py"
    if dot and stem.strip() and extension == "zip":
        return "zip"
    raise UnsupportedFileType(
        f"{sanitise_filename(filename)!r} is not an accepted file type; {_ALLOWED_TYPES}.",
        code="UNSUPPORTED_FILE_TYPE",
    )


def check_python_source(path: Source) -> None:
    """Refuse an empty Python file or one that is not UTF-8; syntax is the build's business."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, has_code = 0, 1, False
    with _opened(path) as fh:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad_at = offset - pending + exc.start
                bad_line = line + exc.object[: exc.start].count(b"\n")
                raise InvalidInput(
                    f"The Python file is not valid UTF-8 (line {bad_line}, byte {bad_at}); "
                    "save it with UTF-8 encoding.",
                    code="INVALID_SOURCE",
                ) from exc
            has_code = has_code or bool(text.replace("\ufeff", "").strip())
            line += text.count("\n")
            offset += len(chunk)
            if not chunk:
                break
    if not has_code:
        raise Unprocessable("The Python file is empty.", code="EMPTY_FILE")


def check_zip(path: Source, *, max_entries: int, max_uncompressed_bytes: int) -> ArchiveSummary:
    """Refuse an archive that is malformed, unsafe to unpack, too big, or has no app.py."""
    with _opened(path) as fh:
        size = _size_of(fh)
        if fh.read(4) != LOCAL_HEADER_SIGNATURE:
            raise invalid_archive("The file is not a zip archive (it does not start with PK).")
        directory = zip_layout.locate_central_directory(fh, size)
        # zipfile turns every central record into an object: count them before it does.
        if zip_layout.count_entries(fh, directory, limit=max_entries) > max_entries:
            raise _too_large(f"The archive has more than {max_entries} entries.")
        infos = _read_infos(fh)
        if not infos:
            raise invalid_archive("The zip archive is empty.")
        # The rules the build service applies again before it writes a file.
        entries = _refused_as_input(sources.checked_entries, infos)
        starts, overlap = zip_layout.data_offsets(fh, infos, directory)
        if overlap:
            first, second = overlap
            raise _too_large(
                f"The archive entries {shown(first)} and {shown(second)} overlap, "
                "a zip-bomb technique; re-create the archive with a standard zip tool."
            )
        for info in infos:
            if not zip_layout.local_name_matches(fh, info):
                raise invalid_archive(
                    f"The archive entry {shown(info)} has a different name in its local header."
                )
        declared = sum(info.file_size for info in infos)
        if declared > max_uncompressed_bytes:
            largest = max(infos, key=lambda info: info.file_size)
            raise _too_large(
                f"The archive expands to {_size(declared)}, more than the "
                f"{_size(max_uncompressed_bytes)} allowed (largest entry: {shown(largest)})."
            )
        files = [name for info, name in entries if not info.is_dir()]
        app_root = _refused_as_input(sources.app_root, files)
        total = _inflate_all(fh, infos, starts, cap=max_uncompressed_bytes)
    return ArchiveSummary(entries=len(infos), uncompressed_bytes=total, app_root=app_root)


def _refused_as_input(rule: Callable[[Any], T], value: Any) -> T:
    try:
        return rule(value)
    except sources.SourceRefused as refused:
        raise InvalidInput(refused.message, code=refused.code) from refused


def _read_infos(fh: BinaryIO) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(fh) as archive:
            return archive.infolist()
    except (
        zipfile.BadZipFile,
        ValueError,
        EOFError,
        OSError,
        struct.error,
        NotImplementedError,
    ) as exc:
        # ValueError covers UnicodeDecodeError on names flagged UTF-8 that are not.
        raise invalid_archive("The file is not a readable zip archive.") from exc


def _inflate_all(fh: BinaryIO, infos: list[zipfile.ZipInfo], starts: list[int], *, cap: int) -> int:
    total = 0
    current = infos[0]

    def count(produced: int) -> None:
        nonlocal total
        total += produced
        if total > cap:
            raise _too_large(
                f"The archive expands to more than the {_size(cap)} allowed "
                f"(stopped while inflating {shown(current)})."
            )

    for info, start in zip(infos, starts, strict=True):
        current = info
        zip_layout.inflate(fh, info, start, count)
    return total


def _too_large(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="ARCHIVE_TOO_LARGE")


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} bytes"

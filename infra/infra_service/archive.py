"""Unpack an uploaded source (.py or .zip) safely into a scratch folder.

The backend checked the upload already, with the same rules (contract/sources.py); this is
the second line of defence, because this process is the one that writes files. Bad names are
refused, never silently fixed; inflated bytes are counted while reading rather than trusting
the sizes an archive declares. A `.py` file's UTF-8 byte order mark is dropped on the way
(Python accepts one; the checks and the compiler downstream need not). No message names a
path of this machine.
"""

import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from contract import sources
from infra_service.jobs import JobFailure

CHUNK = 64 * 1024


class UnsafeArchive(JobFailure):
    def __init__(self, message: str) -> None:
        super().__init__("INVALID_SOURCE", message)


def unpack_source(
    source: Path, *, filename: str, dest: Path, max_entries: int, max_bytes: int
) -> list[str]:
    """Put the function's files into `dest` (a single .py becomes app.py); returns their names."""
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix == ".py":
        with source.open("rb") as entry:
            _write(entry, dest / sources.APP_MODULE, python=True, budget=max_bytes, limit=max_bytes)
        return [sources.APP_MODULE]
    if suffix != ".zip":
        raise UnsafeArchive(
            f"Unsupported source type {sources.shown(filename)}: upload a .py or a .zip."
        )
    try:
        with zipfile.ZipFile(source) as archive:
            return _extract(archive, dest, max_entries=max_entries, max_bytes=max_bytes)
    except sources.SourceRefused as refused:
        raise UnsafeArchive(refused.message) from refused
    except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, JobFailure):
            raise
        # The exception's own text may name this machine's scratch folder: not passed on.
        raise UnsafeArchive(
            f"The zip archive cannot be read or unpacked ({type(exc).__name__})."
        ) from exc


def _extract(
    archive: zipfile.ZipFile, dest: Path, *, max_entries: int, max_bytes: int
) -> list[str]:
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise UnsafeArchive(f"The archive has {len(infos)} entries; the limit is {max_entries}.")
    wanted = [
        (info, path) for info, path in sources.checked_entries(infos) if not sources.is_litter(path)
    ]
    root = sources.app_root(path for info, path in wanted if not info.is_dir())
    budget = max_bytes
    names: list[str] = []
    for info, path in wanted:
        relative = path.removeprefix(f"{root}/") if root else path
        if relative == root:
            continue  # the top-level folder itself
        target = dest.joinpath(*relative.split("/"))
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as entry:
            python = relative.endswith(".py")
            budget = _write(entry, target, python=python, budget=budget, limit=max_bytes)
        names.append(relative)
    return names


def _write(entry: IO[bytes], target: Path, *, python: bool, budget: int, limit: int) -> int:
    """Copy one file, at most `budget` bytes; returns what is left of the budget."""
    first = True
    with target.open("wb") as out:
        while chunk := entry.read(CHUNK):
            if first and python:
                chunk = sources.without_bom(chunk)
            first = False
            budget -= len(chunk)
            if budget < 0:
                raise UnsafeArchive(f"The source unpacks to more than {limit} bytes (the limit).")
            out.write(chunk)
    return budget

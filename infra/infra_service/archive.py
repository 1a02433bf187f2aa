"""Unpack an uploaded source (.py or .zip) safely into a scratch folder.

The backend checked the upload already; this is the second line of defence, because this
process is the one that writes files. Bad names are refused, never silently fixed; inflated
bytes are counted while reading rather than trusting the sizes an archive declares.
"""

import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from infra_service.jobs import JobFailure

CHUNK = 64 * 1024
# Archivers' litter, skipped rather than refused (macOS resource forks, Finder/Explorer files).
_LITTER = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchive(JobFailure):
    def __init__(self, message: str) -> None:
        super().__init__("INVALID_SOURCE", message)


def unpack_source(
    source: Path, *, filename: str, dest: Path, max_entries: int, max_bytes: int
) -> list[str]:
    """Put the function's files into `dest` (a single .py becomes app.py); returns their names."""
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix == ".py":
        shutil.copyfile(source, dest / "app.py")
        return ["app.py"]
    if suffix != ".zip":
        raise UnsafeArchive(f"Unsupported source type {filename!r}: upload a .py or a .zip.")
    try:
        with zipfile.ZipFile(source) as archive:
            return _extract(archive, dest, max_entries=max_entries, max_bytes=max_bytes)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, JobFailure):
            raise
        raise UnsafeArchive(f"The zip archive cannot be read: {exc}.") from exc


def _extract(
    archive: zipfile.ZipFile, dest: Path, *, max_entries: int, max_bytes: int
) -> list[str]:
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise UnsafeArchive(f"The archive has {len(infos)} entries; the limit is {max_entries}.")
    wanted: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[str] = set()
    for info in infos:
        path = _checked_path(info)
        if path.parts[0] in _LITTER or path.name in _LITTER:
            continue
        if str(path).lower() in seen:
            raise UnsafeArchive(f"The archive holds {info.filename!r} twice.")
        seen.add(str(path).lower())
        wanted.append((info, path))
    root = _app_root([path for info, path in wanted if not info.is_dir()])
    budget = max_bytes
    names: list[str] = []
    for info, path in wanted:
        relative = PurePosixPath(*path.parts[len(root.parts) :]) if root.parts else path
        if not relative.parts:
            continue
        target = dest.joinpath(*relative.parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as entry, target.open("wb") as out:
            while chunk := entry.read(CHUNK):
                budget -= len(chunk)
                if budget < 0:
                    raise UnsafeArchive(
                        f"The archive unpacks to more than {max_bytes} bytes (the limit)."
                    )
                out.write(chunk)
        names.append(str(relative))
    return names


def _checked_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\\" in name or "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        raise UnsafeArchive(f"Unsafe path in the archive: {name!r}.")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchive(f"Unsafe path in the archive: {name!r}.")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)  # 0 when the archiver recorded permissions only
    if info.create_system == 3 and kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchive(f"The archive entry {name!r} is a link or a special file.")
    if mode & (stat.S_ISUID | stat.S_ISGID):
        raise UnsafeArchive(f"The archive entry {name!r} is setuid or setgid.")
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"The archive entry {name!r} is encrypted.")
    return PurePosixPath(*parts)


def _app_root(files: list[PurePosixPath]) -> PurePosixPath:
    """Where app.py is: the archive's root, or its one top-level folder."""
    if PurePosixPath("app.py") in files:
        return PurePosixPath()
    tops = {path.parts[0] for path in files}
    if len(tops) == 1:
        (top,) = tops
        if PurePosixPath(top, "app.py") in files:
            return PurePosixPath(top)
    raise UnsafeArchive(
        "The archive must contain app.py at its root or inside its one top-level folder."
    )

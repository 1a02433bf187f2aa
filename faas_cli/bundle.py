"""A function's source as the upload expects it: a `.py` or `.zip` as it is, a folder zipped.

A folder is zipped with `app.py` at the root, leaving out what `.faasignore` names (gitignore
syntax) and a few things that never belong in a function (VCS folders, caches, virtual envs).
Entries are written in a fixed order with a fixed timestamp, so the same source gives the same
zip, and the build service's content-addressed cache recognises it.
"""

import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from faas_cli.errors import usage_error

IGNORE_FILE = ".faasignore"
ALWAYS_IGNORED = [
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.py[cod]",
    ".venv/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    IGNORE_FILE,
]
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class Bundle:
    """The file to upload and what went into it."""

    path: Path
    filename: str
    size: int
    files: list[str] = field(default_factory=list)  # for a zipped folder
    skipped: list[str] = field(default_factory=list)  # symlinks left out


def ignore_spec(folder: Path) -> pathspec.GitIgnoreSpec:
    """The built-in patterns, then the folder's `.faasignore` (whose `!` lines may undo them)."""
    lines = list(ALWAYS_IGNORED)
    ignore_file = folder / IGNORE_FILE
    if ignore_file.is_file():
        lines += ignore_file.read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def included_files(folder: Path) -> tuple[list[str], list[str]]:
    """The files to zip (relative POSIX paths, sorted) and the symlinks left out."""
    spec = ignore_spec(folder)
    files: list[str] = []
    skipped: list[str] = []
    for root, dirs, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        kept_dirs = []
        for name in sorted(dirs):
            relative = (base / name).as_posix()
            if (Path(root) / name).is_symlink():
                skipped.append(relative + "/")
            elif not spec.match_file(relative + "/"):
                kept_dirs.append(name)
        dirs[:] = kept_dirs  # like git, an ignored folder's content cannot be re-included
        for name in names:
            relative = (base / name).as_posix()
            full = Path(root) / name
            if full.is_symlink():
                skipped.append(relative)  # the backend refuses links; their targets may be anywhere
            elif stat.S_ISREG(full.stat().st_mode) and not spec.match_file(relative):
                files.append(relative)
    return sorted(files), sorted(skipped)


def write_zip(folder: Path, files: list[str], target: Path) -> None:
    """Zip `files` of `folder` into `target`, deterministically."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            source = folder / relative
            info = zipfile.ZipInfo(relative, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IMODE(source.stat().st_mode) | stat.S_IFREG) << 16
            with source.open("rb") as reader, archive.open(info, "w") as writer:
                while chunk := reader.read(1 << 16):
                    writer.write(chunk)


@contextmanager
def prepare(source: Path) -> Iterator[Bundle]:
    """The upload for `source`; a zip made from a folder is removed afterwards."""
    if source.is_dir():
        files, skipped = included_files(source)
        if "app.py" not in files:
            raise usage_error(
                "NO_APP_PY",
                f"{source} has no app.py",
                "a function's folder needs an app.py at its top (not left out by .faasignore)",
                hint="`faas init NAME` writes a starter function",
            )
        name = (source.resolve().name or "function") + ".zip"
        with tempfile.TemporaryDirectory(prefix="faas-bundle-") as scratch:
            target = Path(scratch) / name
            write_zip(source, files, target)
            yield Bundle(target, name, target.stat().st_size, files, skipped)
        return
    if not source.exists():
        raise usage_error("SOURCE_NOT_FOUND", f"{source} does not exist")
    if source.suffix.lower() not in (".py", ".zip"):
        raise usage_error(
            "UNSUPPORTED_SOURCE",
            f"{source} is not a folder, a .py or a .zip",
            "the platform builds one Python file, or a zip (or folder) with an app.py",
        )
    yield Bundle(source, source.name, source.stat().st_size)


def default_name(source: Path) -> str:
    """The function name a source suggests: its folder's name (or the file's, but not `app`)."""
    resolved = source.resolve()
    if resolved.is_dir():
        stem = resolved.name
    elif resolved.stem.lower() == "app":
        stem = resolved.parent.name
    else:
        stem = resolved.stem
    return stem.lower().replace("_", "-").replace(".", "-").strip("-")

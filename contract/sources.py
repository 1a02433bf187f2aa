"""What a valid function source is: one set of rules for both sides.

The backend applies them when a source is uploaded (backend/app/uploads), and the build
service applies them again before it writes a single file (infra/infra_service/archive.py), so
that nothing the backend accepts is refused later, and the process that writes files does not
trust the one that checked. Pure functions of names and `zipfile.ZipInfo` records; standard
library only.

Every refusal is a `SourceRefused` with a stable `code` and a message that names the entry as
the archive spells it (escaped and bounded), never a path of the machine checking it.
"""

import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import PurePosixPath

APP_MODULE = "app.py"
UTF8_BOM = b"\xef\xbb\xbf"
# Linux file systems allow 255 bytes per name; the whole relative path is bounded too, so
# that the scratch folder plus the path stays far below PATH_MAX (4096).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 32
# Folders and files archivers add on their own: skipped, never unpacked or counted as the top.
LITTER = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})
NESTED_ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".jar", ".whl"}
)

# Stable codes (the backend answers them as 400s, the build service as INVALID_SOURCE).
UNSAFE_PATH = "UNSAFE_ARCHIVE_PATH"
UNSAFE_ENTRY = "UNSAFE_ARCHIVE_ENTRY"
UNSAFE_ARCHIVE = "UNSAFE_ARCHIVE"
INVALID_ARCHIVE = "INVALID_ARCHIVE"
MISSING_APP = "MISSING_APP_PY"


class SourceRefused(ValueError):
    """A source that breaks one of the rules."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def shown(name: str) -> str:
    """An entry name safe to put in a message: quoted, control characters escaped, bounded."""
    text = repr(name[:200])
    return text if len(name) <= 200 else text[:-1] + "…" + text[-1]


def _unsafe_path(raw: str, problem: str) -> SourceRefused:
    return SourceRefused(UNSAFE_PATH, f"The archive entry {shown(raw)} {problem}.")


def entry_path(raw: str) -> str:
    """The entry's relative path ("a/b.py"), or SourceRefused when it is unsafe to create."""
    if "\x00" in raw:
        raise _unsafe_path(raw, "contains a NUL byte")
    if "\\" in raw:
        # Windows separators: one tool sees a folder, another a strange name. Refused on
        # both sides rather than guessed at; zip tools write "/" (APPNOTE 4.4.17).
        raise _unsafe_path(raw, "contains a backslash; zip entries use '/' between folders")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":" and raw[0].isalpha()):
        raise _unsafe_path(raw, "is an absolute path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _unsafe_path(raw, "climbs out of the archive with '..'")
    if not parts:
        raise _unsafe_path(raw, "has an empty name")
    if len(parts) > MAX_DEPTH:
        raise _unsafe_path(raw, f"is nested more than {MAX_DEPTH} folders deep")
    for part in parts:
        if len(part.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
            raise _unsafe_path(
                raw, f"has a name longer than {MAX_NAME_BYTES} bytes, which no file system holds"
            )
    path = "/".join(parts)
    if len(path.encode("utf-8", errors="surrogatepass")) > MAX_PATH_BYTES:
        raise _unsafe_path(raw, f"has a path longer than {MAX_PATH_BYTES} bytes")
    return path


def same_file_key(path: str) -> str:
    """Names that one file system or another would make the same file (case, NFC/NFD)."""
    return unicodedata.normalize("NFC", path).casefold()


def refuse_duplicates(entries: Iterable[tuple[str, str]]) -> None:
    """`entries` are (raw name, path); refuse a path that names an earlier entry's file."""
    seen: dict[str, str] = {}
    for raw, path in entries:
        key = same_file_key(path)
        if key in seen:
            raise _unsafe_path(raw, f"duplicates the entry {shown(seen[key])}")
        seen[key] = raw


def is_litter(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and (parts[0] in LITTER or parts[-1] in LITTER)


def check_entry(info: zipfile.ZipInfo, path: str) -> None:
    """Refuse links, special files, setuid bits, encryption, odd compression, nested archives."""
    raw = info.orig_filename
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)  # 0 when the archiver recorded permissions only
    if stat.S_ISLNK(mode):
        raise SourceRefused(UNSAFE_ENTRY, f"The archive entry {shown(raw)} is a symbolic link.")
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise SourceRefused(
            UNSAFE_ENTRY, f"The archive entry {shown(raw)} is a device, pipe or socket."
        )
    if mode & (stat.S_ISUID | stat.S_ISGID):
        raise SourceRefused(
            UNSAFE_ENTRY, f"The archive entry {shown(raw)} has the setuid or setgid bit set."
        )
    if info.flag_bits & 0x41:  # bit 0: encrypted, bit 6: strong encryption
        raise SourceRefused(
            INVALID_ARCHIVE,
            f"The archive entry {shown(raw)} is encrypted; upload an archive without a password.",
        )
    if info.flag_bits & 0x20:
        raise SourceRefused(
            INVALID_ARCHIVE,
            f"The archive entry {shown(raw)} uses patched data, a zip feature not supported.",
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise SourceRefused(
            INVALID_ARCHIVE,
            f"The archive entry {shown(raw)} uses compression method {info.compress_type}; "
            "only stored and deflate are supported (the default of common zip tools).",
        )
    if not info.is_dir() and PurePosixPath(path).suffix.lower() in NESTED_ARCHIVE_SUFFIXES:
        raise SourceRefused(
            UNSAFE_ARCHIVE,
            f"The archive entry {shown(raw)} is itself an archive; nested archives are not "
            "accepted, include the files themselves.",
        )


def checked_entries(infos: Iterable[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, str]]:
    """Every entry with its path, all rules applied (litter kept: see `is_litter`)."""
    entries = [(info, entry_path(info.orig_filename)) for info in infos]
    refuse_duplicates((info.orig_filename, path) for info, path in entries)
    for info, path in entries:
        check_entry(info, path)
    return entries


def app_root(files: Iterable[str]) -> str:
    """Where app.py is: "" at the root, else the one top-level folder that holds it."""
    names = {path for path in files if not is_litter(path)}
    if APP_MODULE in names:
        return ""
    tops = {path.split("/")[0] for path in names}
    if len(tops) == 1:
        (top,) = tops
        if f"{top}/{APP_MODULE}" in names:
            return top
    found = sorted(path for path in names if PurePosixPath(path).name == APP_MODULE)[:3]
    hint = f" (found {', '.join(map(repr, found))})" if found else ""
    raise SourceRefused(
        MISSING_APP,
        f"The archive must contain {APP_MODULE} at its root or inside its single top-level "
        f"folder{hint}.",
    )


def without_bom(first_chunk: bytes) -> bytes:
    """A Python file's first bytes without a UTF-8 byte order mark.

    Python accepts a BOM as "this file is UTF-8", so the backend accepts it; the build service
    writes the files without it, so that its source check (`ast.parse` of the decoded text,
    which sees U+FEFF as an invalid character) and the compiler never meet one.
    """
    return first_chunk.removeprefix(UTF8_BOM)

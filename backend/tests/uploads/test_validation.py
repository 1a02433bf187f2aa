import io
import random
import stat
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from app.errors import DomainError
from app.uploads.validation import (
    ArchiveSummary,
    check_python_source,
    check_zip,
    sanitise_filename,
    source_kind,
)
from tests.uploads.archives import (
    APP_SOURCE,
    RawEntry,
    patch_declared_size,
    quoted_overlap_bomb,
    raw_zip,
    write_zip,
)

MiB = 1 << 20
LIMITS = {"max_entries": 100, "max_uncompressed_bytes": 10 * MiB}


def refused(call, *args, **kwargs) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


def zip_file(tmp_path: Path, files: dict[str, bytes], **kwargs: object) -> Path:
    return write_zip(tmp_path / "upload.zip", files, **kwargs)  # type: ignore[arg-type]


def raw_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def zero_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """300 MiB of zeros deflated to ~300 KiB, next to a valid app.py; honest headers."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", APP_SOURCE)
        with archive.open("zeros.bin", "w") as out:
            megabyte = bytes(MiB)
            for _ in range(300):
                out.write(megabyte)
    return path.read_bytes()


# --- file names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("app.py", "app.py"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\handler.py", "handler.py"),
        ("dir/sub\\app.zip", "app.zip"),
        ("my app (final).py", "my_app_final_.py"),
        ("app\u202egpj.py", "appgpj.py"),
        ("a\x00b\r\n\tc.py", "abc.py"),
        ("\uff41\uff50\uff50.py", "app.py"),  # fullwidth letters
        ("..hidden.py", "hidden.py"),
    ],
)
def test_sanitise_filename_keeps_a_safe_last_component(raw: str, expected: str) -> None:
    assert sanitise_filename(raw) == expected


@pytest.mark.parametrize("raw", [None, "", ".", "..", "/", "a/", "\u202e", "日本語", "%%%"])
def test_sanitise_filename_is_never_empty(raw: str | None) -> None:
    assert sanitise_filename(raw) == "upload"


def test_sanitise_filename_bounds_a_2kb_name_and_keeps_its_extension() -> None:
    name = sanitise_filename("x" * 2048 + ".zip")

    assert len(name) == 100
    assert name.endswith("x.zip")


@pytest.mark.parametrize(
    ("filename", "kind"),
    [("app.py", "py"), ("handler.PY", "py"), ("APP.ZIP", "zip"), ("dir/bundle.zip", "zip")],
)
def test_source_kind_follows_the_final_extension_case_insensitively(
    filename: str, kind: str
) -> None:
    assert source_kind(filename) == kind


@pytest.mark.parametrize(
    "filename",
    ["app.py.exe", "app.exe", "app.php%00.zip", "app.zip\x00.py", "app", ".py", "app.", "app.py "],
)
def test_source_kind_refuses_other_and_disguised_extensions(filename: str) -> None:
    error = refused(source_kind, filename)

    assert (error.status, error.code) == (415, "UNSUPPORTED_FILE_TYPE")
    assert ".py" in error.detail and ".zip" in error.detail
    assert "\x00" not in error.detail


# --- Python sources -----------------------------------------------------------------------


def test_python_source_in_utf8_is_accepted_even_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    # A 4-byte character straddling the 64 KiB read boundary.
    path.write_bytes(b"#" * (64 * 1024 - 2) + "🙂\nprint('héllo')\n".encode())

    check_python_source(path)


def test_python_source_with_a_syntax_error_is_left_to_the_build(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("def broken(:\n", encoding="utf-8")

    check_python_source(path)


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n", b"\xef\xbb\xbf\n"])
def test_empty_python_source_is_refused_with_422(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "app.py"
    path.write_bytes(content)

    error = refused(check_python_source, path)

    assert (error.status, error.code) == (422, "EMPTY_FILE")


def test_python_source_in_latin1_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_bytes(b"x = 1\ny = 2\nname = 'caf\xe9'\n")

    error = refused(check_python_source, path)

    assert (error.status, error.code) == (400, "INVALID_SOURCE")
    assert "line 3" in error.detail and "UTF-8" in error.detail


def test_python_source_ending_in_half_a_character_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_bytes(b"x = '\xe2\x82'")

    assert refused(check_python_source, path).code == "INVALID_SOURCE"


# --- archives accepted --------------------------------------------------------------------


def test_archive_with_app_py_at_the_root_is_summarised(tmp_path: Path) -> None:
    path = zip_file(tmp_path, {"app.py": APP_SOURCE, "lib/util.py": b"X = 1\n"})

    summary = check_zip(path, **LIMITS)

    assert summary == ArchiveSummary(entries=2, uncompressed_bytes=len(APP_SOURCE) + 6, app_root="")


def test_archive_with_app_py_in_one_top_level_folder_is_accepted(tmp_path: Path) -> None:
    files = {"hello/": b"", "hello/app.py": APP_SOURCE, "hello/lib/util.py": b"X = 1\n"}
    files |= {"__MACOSX/hello/._app.py": b"\x00\x05"}  # what macOS Finder adds

    assert check_zip(zip_file(tmp_path, files), **LIMITS).app_root == "hello"


def test_archive_with_stored_entries_is_accepted(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE, deflate=False)]))

    assert check_zip(path, **LIMITS).uncompressed_bytes == len(APP_SOURCE)


def test_checking_a_large_archive_keeps_memory_flat(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", APP_SOURCE)
        with archive.open("data.bin", "w") as out:
            for _ in range(64):
                out.write(bytes(MiB))

    tracemalloc.start()
    try:
        summary = check_zip(tmp_path / "big.zip", max_entries=10, max_uncompressed_bytes=100 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.uncompressed_bytes == 64 * MiB + len(APP_SOURCE)
    assert peak < 2 * MiB


# --- archives refused: not a zip ----------------------------------------------------------


def test_file_not_starting_with_a_zip_header_is_refused(tmp_path: Path) -> None:
    error = refused(check_zip, raw_file(tmp_path, b"just some text"), **LIMITS)

    assert (error.status, error.code) == (400, "INVALID_ARCHIVE")


def test_pdf_with_a_zip_appended_is_refused(tmp_path: Path) -> None:
    inner = raw_zip([RawEntry(b"app.py", APP_SOURCE)])
    path = raw_file(tmp_path, b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n" + inner)

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


def test_zip_with_data_after_its_end_is_refused(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE)]) + b"%PDF-1.7 trailer")

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


def test_two_zips_glued_together_are_refused(tmp_path: Path) -> None:
    first = raw_zip([RawEntry(b"app.py", APP_SOURCE)])
    path = raw_file(tmp_path, first + raw_zip([RawEntry(b"app.py", b"evil = 1\n")]))

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    data = raw_zip([RawEntry(b"app.py", APP_SOURCE)])

    assert refused(check_zip, raw_file(tmp_path, data[:-30]), **LIMITS).code == "INVALID_ARCHIVE"


def test_zip_with_corrupt_compressed_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(raw_zip([RawEntry(b"app.py", APP_SOURCE * 20)]))
    start = 30 + len(b"app.py")
    data[start + 5 : start + 25] = bytes(b ^ 0x5A for b in data[start + 5 : start + 25])

    error = refused(check_zip, raw_file(tmp_path, bytes(data)), **LIMITS)

    assert error.code == "INVALID_ARCHIVE"
    assert "'app.py'" in error.detail


def test_zip_with_a_wrong_crc_is_refused(tmp_path: Path) -> None:
    data = bytearray(raw_zip([RawEntry(b"app.py", APP_SOURCE)]))
    data[14] ^= 0xFF  # local header CRC
    central = data.index(b"PK\x01\x02")
    data[central + 16] ^= 0xFF  # central directory CRC

    error = refused(check_zip, raw_file(tmp_path, bytes(data)), **LIMITS)

    assert error.code == "INVALID_ARCHIVE"
    assert "CRC" in error.detail


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE, flags=0x1)]))

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "INVALID_ARCHIVE"
    assert "encrypted" in error.detail


def test_entry_with_patched_data_is_refused(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE, flags=0x20)]))

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


def test_entry_with_an_unsupported_compression_method_is_refused(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE, method=12)]))

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


def test_entry_named_differently_in_its_local_header_is_refused(tmp_path: Path) -> None:
    entry = RawEntry(b"../../etc/cron", APP_SOURCE, central_name=b"app.py")

    error = refused(check_zip, raw_file(tmp_path, raw_zip([entry])), **LIMITS)

    assert error.code == "INVALID_ARCHIVE"


def test_empty_zip_is_refused(tmp_path: Path) -> None:
    path = raw_file(tmp_path, raw_zip([]))

    assert refused(check_zip, path, **LIMITS).code == "INVALID_ARCHIVE"


# --- archives refused: unsafe paths and entries -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        b"../../etc/x",
        b"/abs",
        b"C:\\x",
        b"c:x",
        b"a\\..\\..\\b",
        b"\\\\server\\share\\x",
        b"a/../../b",
        b"app.py\x00.txt",
    ],
)
def test_zip_slip_names_are_refused(tmp_path: Path, name: bytes) -> None:
    path = raw_file(tmp_path, raw_zip([RawEntry(b"app.py", APP_SOURCE), RawEntry(name, b"x")]))

    error = refused(check_zip, path, **LIMITS)

    assert (error.status, error.code) == (400, "UNSAFE_ARCHIVE_PATH")
    assert "archive entry" in error.detail


@pytest.mark.parametrize(
    "twins",
    [(b"app.py", b"app.py"), (b"lib/util.py", b"lib/UTIL.py"), (b"lib/a.py", b"lib/./a.py")],
)
def test_duplicate_names_are_refused(tmp_path: Path, twins: tuple[bytes, bytes]) -> None:
    entries = [RawEntry(b"app.py", APP_SOURCE)] if twins[0] != b"app.py" else []
    entries += [RawEntry(name, APP_SOURCE) for name in twins]

    error = refused(check_zip, raw_file(tmp_path, raw_zip(entries)), **LIMITS)

    assert error.code == "UNSAFE_ARCHIVE_PATH"
    assert "duplicates" in error.detail


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFIFO | 0o644, "device, pipe or socket"),
        (stat.S_IFCHR | 0o644, "device, pipe or socket"),
        (stat.S_IFREG | 0o4755, "setuid"),
        (stat.S_IFREG | 0o2755, "setgid"),
    ],
)
def test_special_entries_are_refused(tmp_path: Path, mode: int, problem: str) -> None:
    files = {"app.py": APP_SOURCE, "lib/link": b"/etc/passwd"}
    path = zip_file(tmp_path, files, attrs={"lib/link": mode << 16})

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "UNSAFE_ARCHIVE_ENTRY"
    assert "'lib/link'" in error.detail and problem in error.detail


@pytest.mark.parametrize("name", ["vendor/lib.zip", "deps.tar", "data.tar.gz", "pkg.whl"])
def test_nested_archives_are_refused(tmp_path: Path, name: str) -> None:
    path = zip_file(tmp_path, {"app.py": APP_SOURCE, name: b"PK\x03\x04"})

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "UNSAFE_ARCHIVE"
    assert name in error.detail


def test_hostile_entry_names_are_escaped_and_bounded_in_messages(tmp_path: Path) -> None:
    name = "../" + "\u202e" + "x" * 3000
    path = raw_file(tmp_path, raw_zip([RawEntry(name.encode(), b"x", flags=0x800)]))

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "UNSAFE_ARCHIVE_PATH"
    assert "\u202e" not in error.detail and "\\u202e" in error.detail
    assert len(error.detail) < 400


# --- archives refused: bombs --------------------------------------------------------------


def test_archive_with_more_entries_than_allowed_is_refused(tmp_path: Path) -> None:
    files = {"app.py": APP_SOURCE} | {f"lib/m{index}.py": b"" for index in range(10)}

    error = refused(
        check_zip, zip_file(tmp_path, files), max_entries=10, max_uncompressed_bytes=MiB
    )

    assert error.code == "ARCHIVE_TOO_LARGE"
    assert "10 entries" in error.detail


def test_high_ratio_bomb_is_refused_quickly(tmp_path: Path, zero_bomb: bytes) -> None:
    started = time.monotonic()

    error = refused(check_zip, raw_file(tmp_path, zero_bomb), **LIMITS)

    assert error.code == "ARCHIVE_TOO_LARGE"
    assert "10.0 MiB" in error.detail and "'zeros.bin'" in error.detail
    assert time.monotonic() - started < 2


def test_bomb_lying_about_its_size_is_stopped_at_the_cap(tmp_path: Path, zero_bomb: bytes) -> None:
    path = raw_file(tmp_path, patch_declared_size(zero_bomb, "zeros.bin", 1000))
    started = time.monotonic()

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "ARCHIVE_TOO_LARGE"
    assert "stopped while inflating 'zeros.bin'" in error.detail
    assert time.monotonic() - started < 2


def test_entry_inflating_to_more_than_it_declares_is_refused(tmp_path: Path) -> None:
    honest = raw_zip([RawEntry(b"app.py", APP_SOURCE), RawEntry(b"data.bin", bytes(5000))])
    path = raw_file(tmp_path, patch_declared_size(honest, "data.bin", 1000))

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "INVALID_ARCHIVE"
    assert "'data.bin' declares 1000 bytes but holds 5000" in error.detail


def test_central_entries_sharing_one_local_header_are_refused(tmp_path: Path) -> None:
    entries = [RawEntry(b"app.py", APP_SOURCE), RawEntry(b"copy.py", APP_SOURCE, point_at=0)]

    error = refused(check_zip, raw_file(tmp_path, raw_zip(entries)), **LIMITS)

    assert error.code == "ARCHIVE_TOO_LARGE"
    assert "'app.py' and 'copy.py' overlap" in error.detail


def test_quoted_overlap_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = raw_file(tmp_path, quoted_overlap_bomb(files=10, kernel_size=MiB))
    started = time.monotonic()

    # A cap larger than the bomb's declared total: only the overlap check can stop it.
    error = refused(check_zip, path, max_entries=100, max_uncompressed_bytes=1 << 40)

    assert error.code == "ARCHIVE_TOO_LARGE"
    assert "'00.bin' and '01.bin' overlap" in error.detail
    assert time.monotonic() - started < 1


# --- archives refused: no app.py ----------------------------------------------------------


def test_archive_without_app_py_is_refused(tmp_path: Path) -> None:
    error = refused(check_zip, zip_file(tmp_path, {"main.py": APP_SOURCE}), **LIMITS)

    assert (error.status, error.code) == (400, "MISSING_APP_PY")


def test_app_py_two_levels_deep_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = zip_file(tmp_path, {"project/src/app.py": APP_SOURCE})

    error = refused(check_zip, path, **LIMITS)

    assert error.code == "MISSING_APP_PY"
    assert "'project/src/app.py'" in error.detail


def test_app_py_in_a_folder_beside_other_top_level_items_is_refused(tmp_path: Path) -> None:
    path = zip_file(tmp_path, {"src/app.py": APP_SOURCE, "requirements.txt": b""})

    assert refused(check_zip, path, **LIMITS).code == "MISSING_APP_PY"


def test_a_folder_named_app_py_does_not_count(tmp_path: Path) -> None:
    path = zip_file(tmp_path, {"app.py/": b"", "app.py/x.py": APP_SOURCE})

    assert refused(check_zip, path, **LIMITS).code == "MISSING_APP_PY"


# --- damaged archives in bulk -------------------------------------------------------------


def test_randomly_damaged_archives_are_refused_cleanly_or_read_like_zipfile(
    tmp_path: Path,
) -> None:
    """Every outcome is a DomainError, or an archive the standard reader reads identically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hello/app.py", APP_SOURCE * 5)
        archive.writestr("hello/lib/util.py", b"y = 2\n" * 50)
    seeds = [buffer.getvalue(), raw_zip([RawEntry(b"app.py", APP_SOURCE, deflate=False)])]
    seeds.append(quoted_overlap_bomb(files=3, kernel_size=4096))
    rng = random.Random(20240101)
    path = tmp_path / "damaged.zip"

    for _ in range(1500):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            summary = check_zip(path, max_entries=50, max_uncompressed_bytes=MiB)
        except DomainError:
            continue
        with zipfile.ZipFile(path) as archive:
            inflated = sum(len(archive.read(info)) for info in archive.infolist())
        assert inflated == summary.uncompressed_bytes

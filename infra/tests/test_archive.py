"""Unpacking sources: .py becomes app.py; zips are refused when unsafe, never silently fixed."""

import io
import stat
import zipfile
from pathlib import Path

import pytest

from infra_service.archive import UnsafeArchive, unpack_source


def _zip(tmp_path: Path, entries: dict[str, bytes], *, name: str = "src.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return path


def _unpack(tmp_path: Path, source: Path, *, filename: str = "src.zip", **limits: int) -> Path:
    dest = tmp_path / "out"
    dest.mkdir()
    options = {"max_entries": 100, "max_bytes": 1 << 20} | limits
    unpack_source(source, filename=filename, dest=dest, **options)
    return dest


def test_a_single_py_file_becomes_app_py_whatever_its_name(tmp_path: Path) -> None:
    source = tmp_path / "upload"
    source.write_text("print('hi')\n")
    dest = _unpack(tmp_path, source, filename="my_handler.py")
    assert (dest / "app.py").read_text() == "print('hi')\n"


def test_a_zip_with_app_py_at_its_root_unpacks_as_is(tmp_path: Path) -> None:
    source = _zip(tmp_path, {"app.py": b"x = 1\n", "lib/helper.py": b"y = 2\n"})
    dest = _unpack(tmp_path, source)
    assert (dest / "app.py").is_file() and (dest / "lib" / "helper.py").is_file()


def test_a_zip_with_one_top_level_folder_is_unpacked_from_inside_it(tmp_path: Path) -> None:
    source = _zip(
        tmp_path,
        {
            "with-helper/app.py": b"x = 1\n",
            "with-helper/greeting.py": b"y = 2\n",
            "__MACOSX/with-helper/._app.py": b"junk",
        },
    )
    dest = _unpack(tmp_path, source)
    assert sorted(p.name for p in dest.iterdir()) == ["app.py", "greeting.py"]


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/evil.py", "C:/evil.py", "a\\..\\evil.py"]
)
def test_zip_slip_names_are_refused(tmp_path: Path, name: str) -> None:
    source = _zip(tmp_path, {"app.py": b"x = 1\n", name: b"evil"})
    with pytest.raises(UnsafeArchive, match="The archive entry"):
        _unpack(tmp_path, source)
    assert not (tmp_path / "evil.py").exists()


@pytest.mark.parametrize("mode", [stat.S_IFLNK | 0o777, stat.S_IFREG | stat.S_ISUID | 0o755])
def test_symlinks_and_setuid_entries_are_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", b"x = 1\n")
        info = zipfile.ZipInfo("link.py")
        info.create_system = 3
        info.external_attr = mode << 16
        archive.writestr(info, b"/etc/passwd")
    with pytest.raises(UnsafeArchive, match=r"link|setuid"):
        _unpack(tmp_path, path)


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    entries = {"app.py": b""} | {f"m{i}.py": b"" for i in range(20)}
    with pytest.raises(UnsafeArchive, match="entries"):
        _unpack(tmp_path, _zip(tmp_path, entries), max_entries=10)


def test_inflated_bytes_are_capped_while_reading(tmp_path: Path) -> None:
    bomb = _zip(tmp_path, {"app.py": b"x = 1\n", "big.txt": b"\0" * (5 << 20)})
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(UnsafeArchive, match="more than"):
        _unpack(tmp_path, bomb, max_bytes=1 << 20)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 1 << 20


def test_a_zip_without_app_py_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match=r"app\.py"):
        _unpack(tmp_path, _zip(tmp_path, {"a/app.py": b"", "b/other.py": b""}))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", b"x = 1\n")
        archive.writestr("App.py", b"x = 2\n")
    path = tmp_path / "src.zip"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeArchive, match="duplicates"):
        _unpack(tmp_path, path)


def test_a_damaged_zip_is_refused_as_invalid_source(tmp_path: Path) -> None:
    path = tmp_path / "src.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnsafeArchive) as caught:
        _unpack(tmp_path, path)
    assert caught.value.code == "INVALID_SOURCE"

"""One notion of a valid source: the backend's upload check and the build service's unpack agree.

Both apply contract/sources.py. Each archive below is given to the backend's check and to the
build service's unpack (infra_service.archive, imported as the service runs it): both refuse it
with the same message, and the service's message names no path of its machine; or both accept
it. Then the same rules through the running app: refused uploads write nothing to S3 or
DynamoDB, a BOM source is accepted, and a multipart request naming a part twice is a 400.
"""

import json
import stat
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.errors import DomainError
from app.uploads.validation import check_python_source, check_zip
from contract.sources import MAX_NAME_BYTES, MAX_PATH_BYTES, UTF8_BOM
from infra_service.archive import UnsafeArchive, unpack_source
from tests.api.support import stored_state
from tests.conftest import create_workspace
from tests.uploads.archives import APP_SOURCE, RawEntry, raw_zip, write_zip

PATH = "UNSAFE_ARCHIVE_PATH"
LIMITS = {"max_entries": 100, "max_uncompressed_bytes": 1 << 20}
LONG_NAME = "n" * (MAX_NAME_BYTES - 3) + ".py"  # exactly 255 bytes
DEEP_PATH = "/".join(["d" * 100] * 9) + "/" + "x" * (MAX_PATH_BYTES - 909 - 3) + ".py"

REFUSED: list[tuple[str, dict[str, bytes], str]] = [
    ("a backslash separator", {"app.py": APP_SOURCE, "lib\\util.py": b""}, PATH),
    ("a backslash climbing out", {"app.py": APP_SOURCE, "a\\..\\..\\x": b""}, PATH),
    ("a 256-byte name", {"app.py": APP_SOURCE, "n" * 253 + ".py": b""}, PATH),
    (
        "a 256-byte name in multi-byte characters",
        {"app.py": APP_SOURCE, "é" * 127 + ".py": b""},  # 254 + 3 bytes, 130 characters
        PATH,
    ),
    (
        "a path over the total bound",
        {"app.py": APP_SOURCE, DEEP_PATH.replace("x.py", "xx.py").replace(".py", "a.py"): b""},
        PATH,
    ),
    ("folders nested too deep", {"app.py": APP_SOURCE, "a/" * 40 + "x.py": b""}, PATH),
    ("a climb with ..", {"app.py": APP_SOURCE, "../x.py": b""}, PATH),
    ("an absolute path", {"app.py": APP_SOURCE, "/etc/x.py": b""}, PATH),
    ("a drive letter", {"app.py": APP_SOURCE, "C:/x.py": b""}, PATH),
    ("names differing in case only", {"app.py": APP_SOURCE, "App.py": b""}, PATH),
    ("a nested archive", {"app.py": APP_SOURCE, "deps.zip": b"PK"}, "UNSAFE_ARCHIVE"),
    ("no app.py", {"main.py": APP_SOURCE}, "MISSING_APP_PY"),
    ("app.py two folders down", {"a/b/app.py": APP_SOURCE}, "MISSING_APP_PY"),
]  # fmt: skip
ACCEPTED: list[tuple[str, dict[str, bytes]]] = [
    ("a 255-byte name", {"app.py": APP_SOURCE, LONG_NAME: b"X = 1\n"}),
    ("a path of exactly the bound", {"app.py": APP_SOURCE, DEEP_PATH: b"X = 1\n"}),
    ("one top-level folder and archiver litter",
     {"fn/app.py": APP_SOURCE, "__MACOSX/fn/._app.py": b"junk", "fn/.DS_Store": b"junk"}),
    ("sources with a BOM", {"app.py": UTF8_BOM + APP_SOURCE, "util.py": UTF8_BOM + b"X = 1\n"}),
]  # fmt: skip


def _backend(path: Path) -> DomainError | None:
    try:
        check_zip(path, **LIMITS)
    except DomainError as error:
        return error
    return None


def _service(path: Path, dest: Path) -> UnsafeArchive | None:
    dest.mkdir()
    try:
        unpack_source(path, filename="src.zip", dest=dest, max_entries=100, max_bytes=1 << 20)
    except UnsafeArchive as refused:
        return refused
    return None


def test_the_bounds_of_the_cases_are_what_they_say() -> None:
    assert len(LONG_NAME.encode()) == MAX_NAME_BYTES
    assert len(DEEP_PATH.encode()) == MAX_PATH_BYTES


@pytest.mark.parametrize(("what", "files", "code"), REFUSED, ids=[case[0] for case in REFUSED])
def test_both_sides_refuse_with_the_same_words(
    tmp_path: Path, what: str, files: dict[str, bytes], code: str
) -> None:
    # Names written byte for byte (flag 0x800: UTF-8), as a hostile client would.
    path = tmp_path / "src.zip"
    path.write_bytes(
        raw_zip([RawEntry(n.encode(), data, flags=0x800) for n, data in files.items()])
    )
    backend = _backend(path)
    assert backend is not None, f"the backend accepts {what}"
    assert backend.code == code
    service = _service(path, tmp_path / "unpacked")
    assert service is not None, f"the build service accepts {what}"
    assert service.code == "INVALID_SOURCE"
    assert service.message == backend.detail
    assert str(tmp_path) not in service.message
    assert not any((tmp_path / "unpacked").iterdir()), "nothing is written before the checks"


@pytest.mark.parametrize(("what", "files"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_both_sides_accept(tmp_path: Path, what: str, files: dict[str, bytes]) -> None:
    path = write_zip(tmp_path / "src.zip", files)
    assert _backend(path) is None, what
    assert _service(path, tmp_path / "unpacked") is None, what
    unpacked = tmp_path / "unpacked"
    assert (unpacked / "app.py").read_bytes().startswith(b"from spin_sdk")  # no BOM left
    assert not (unpacked / ".DS_Store").exists()


def test_special_entries_are_refused_on_both_sides(tmp_path: Path) -> None:
    for mode in (stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o644, stat.S_IFREG | 0o4755):
        case = tmp_path / f"mode-{mode:o}"
        case.mkdir()
        path = write_zip(
            case / "src.zip", {"app.py": APP_SOURCE, "x.py": b""}, attrs={"x.py": mode << 16}
        )
        backend = _backend(path)
        service = _service(path, case / "unpacked")
        assert backend is not None and service is not None
        assert backend.code == "UNSAFE_ARCHIVE_ENTRY" and service.message == backend.detail


def test_a_single_py_with_a_bom_is_accepted_and_unpacked_without_it(tmp_path: Path) -> None:
    source = tmp_path / "handler.py"
    source.write_bytes(UTF8_BOM + APP_SOURCE)
    check_python_source(source)
    dest = tmp_path / "unpacked"
    dest.mkdir()
    unpack_source(source, filename="handler.py", dest=dest, max_entries=1, max_bytes=1 << 20)
    assert (dest / "app.py").read_bytes() == APP_SOURCE


def test_a_file_system_error_while_unpacking_names_no_server_path(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "src.zip", {"app.py": APP_SOURCE, "lib/x.py": b""})
    dest = tmp_path / "scratch-of-the-service"
    dest.mkdir()
    (dest / "lib").write_bytes(b"a file where the folder should go")
    with pytest.raises(UnsafeArchive) as refused:
        unpack_source(path, filename="src.zip", dest=dest, max_entries=10, max_bytes=1 << 20)
    assert str(tmp_path) not in refused.value.message
    assert "scratch" not in refused.value.message


# --- the same rules through the running app ---------------------------------------------


async def _upload(client: httpx.AsyncClient, workspace_id: str, filename: str, content: bytes):
    return await client.post(
        "/api/v1/build",
        data={"workspace_id": workspace_id, "app_name": "hello"},
        files={"file": (filename, content)},
    )


@pytest.mark.parametrize(("what", "files", "code"), REFUSED[:6], ids=[c[0] for c in REFUSED[:6]])
async def test_the_app_refuses_the_same_archives_and_writes_nothing(
    client: httpx.AsyncClient,
    settings: Settings,
    tmp_path: Path,
    what: str,
    files: dict[str, bytes],
    code: str,
) -> None:
    workspace = await create_workspace(client)
    entries = [RawEntry(n.encode(), data, flags=0x800) for n, data in files.items()]
    content = raw_zip(entries)
    before = await stored_state(settings)
    answer = await _upload(client, workspace["id"], "src.zip", content)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert await stored_state(settings) == before


async def test_the_app_accepts_a_source_with_a_bom(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    workspace = await create_workspace(client)
    answer = await _upload(client, workspace["id"], "app.py", UTF8_BOM + APP_SOURCE)
    assert answer.status_code == 202, answer.text
    stored = await stored_state(settings)
    assert any(key.endswith("/app.py") for key in stored["objects"])


async def _raw_multipart(
    client: httpx.AsyncClient, parts: list[tuple[str, str | None, bytes]]
) -> httpx.Response:
    boundary = "hardening-boundary"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return await client.post(
        "/api/v1/build",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


@pytest.mark.parametrize(
    ("what", "twice"),
    [
        ("the file", [("file", "app.py", APP_SOURCE), ("file", "other.py", b"x = 2\n")]),
        ("a field", [("app_name", None, b"hello"), ("app_name", None, b"other")]),
        ("the workspace", [("workspace_id", None, b"WS"), ("workspace_id", None, b"WS")]),
    ],
)
async def test_a_part_sent_twice_is_a_400_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings, what: str, twice: list
) -> None:
    workspace = await create_workspace(client)
    parts = [
        ("workspace_id", None, workspace["id"].encode()),
        ("app_name", None, b"hello"),
        ("file", "app.py", APP_SOURCE),
    ]
    repeated = {name for name, _, _ in twice}
    twice = [(n, f, d.replace(b"WS", workspace["id"].encode())) for n, f, d in twice]
    others = [part for part in parts if part[0] not in repeated]
    parts = others + twice
    before = await stored_state(settings)
    answer = await _raw_multipart(client, parts)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "DUPLICATE_FORM_FIELD"
    assert body["fields"] == sorted(repeated)
    assert await stored_state(settings) == before
    once = await _raw_multipart(client, [*others, twice[0]])
    assert once.status_code == 202, json.dumps(once.json())

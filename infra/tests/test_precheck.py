"""The cheap source check fails fast, naming the file, line and reason."""

from pathlib import Path

import pytest

from infra_service.precheck import SourceRejected, check_sources

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"


def _check(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return check_sources(tmp_path)


def test_the_hello_example_passes(tmp_path: Path) -> None:
    notes = _check(tmp_path, {"app.py": HELLO.read_text()})
    assert any("IncomingHandler" in note for note in notes)


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(SourceRejected) as caught:
        _check(tmp_path, {"app.py": "import json\n\ndef broken(:\n    pass\n"})
    assert caught.value.code == "BUILD_FAILED"
    assert "app.py, line 3" in caught.value.message
    assert "SyntaxError" in caught.value.message
    assert "def broken(:" in caught.value.message


def test_a_syntax_error_in_a_helper_module_names_that_module(tmp_path: Path) -> None:
    with pytest.raises(SourceRejected, match=r"lib/helper.py, line 1"):
        _check(tmp_path, {"app.py": HELLO.read_text(), "lib/helper.py": "x = = 1\n"})


def test_an_app_without_incoming_handler_is_refused_with_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(SourceRejected, match="does not define class IncomingHandler"):
        _check(tmp_path, {"app.py": "def handler(request):\n    return 'hi'\n"})


def test_the_spin_sdk_4_handler_name_gets_a_hint(tmp_path: Path) -> None:
    source = "class HttpHandler:\n    async def handle_request(self, request): ...\n"
    with pytest.raises(SourceRejected, match="HttpHandler is the spin-sdk 4"):
        _check(tmp_path, {"app.py": source})


def test_an_async_handle_request_is_refused_with_its_line(tmp_path: Path) -> None:
    source = "class IncomingHandler:\n\n    async def handle_request(self, request): ...\n"
    with pytest.raises(SourceRejected, match=r"line 3: handle_request must be synchronous"):
        _check(tmp_path, {"app.py": source})


def test_an_imported_handler_is_accepted(tmp_path: Path) -> None:
    notes = _check(
        tmp_path,
        {"app.py": "from handlers import IncomingHandler\n", "handlers.py": HELLO.read_text()},
    )
    assert any("imports or assigns" in note for note in notes)


def test_source_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_bytes(b"x = '\xff'\n")
    with pytest.raises(SourceRejected, match="not UTF-8"):
        check_sources(tmp_path)

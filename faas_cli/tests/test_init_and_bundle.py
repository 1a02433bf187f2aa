"""`faas init` writes a function that deploys as it is; folders are zipped as .faasignore says."""

import ast
import importlib.util
import os
import zipfile
from pathlib import Path

import pytest
from spin_sdk.http import Request

from faas_cli import bundle
from faas_cli.errors import CliError, ExitCode
from faas_cli.tests.conftest import Cli, json_of
from infra_service.precheck import check_sources
from infra_service.requirements import read_requirements


def test_init_writes_a_spin_sdk_3_handler_that_answers(cli: Cli) -> None:
    result = cli.ok("init", "hello")
    folder = Path("hello")
    assert sorted(p.name for p in folder.iterdir()) == [".faasignore", "app.py", "requirements.txt"]
    assert "faas deploy hello" in result.stdout

    tree = ast.parse((folder / "app.py").read_text())
    handler = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assert handler.name == "IncomingHandler"
    assert ast.unparse(handler.bases[0]) == "http.IncomingHandler"
    method = next(n for n in handler.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    assert isinstance(method, ast.FunctionDef) and method.name == "handle_request"
    # The build service's own checks accept it.
    assert check_sources(folder) == ["class IncomingHandler found at app.py line 7"]

    spec = importlib.util.spec_from_file_location("starter_app", folder / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    response = module.IncomingHandler().handle_request(Request("GET", "/x?y=1", {}, None))
    assert response.status == 200
    assert response.body == b"Hello from hello! You asked for GET /x?y=1\n"


def test_the_starter_requirements_are_accepted_by_the_build_and_list_no_toolchain_package(
    cli: Cli,
) -> None:
    cli.ok("init", "hello")
    text = Path("hello/requirements.txt").read_text()
    assert "spin-sdk" not in text.replace("spin-sdk comes", "")
    assert read_requirements(Path("hello/requirements.txt")) == ([], [])


def test_init_refuses_a_folder_that_is_not_empty_and_a_bad_name(cli: Cli) -> None:
    Path("taken").mkdir()
    Path("taken/app.py").write_text("mine = True\n")
    refused = cli("init", "taken")
    assert refused.exit_code == ExitCode.USAGE
    assert "[PATH_EXISTS]" in refused.stderr
    assert Path("taken/app.py").read_text() == "mine = True\n"
    assert cli.ok("init", "taken", "--force").exit_code == 0
    assert "IncomingHandler" in Path("taken/app.py").read_text()

    bad = cli("init", "Bad_Name", "-o", "json")
    assert bad.exit_code == ExitCode.USAGE and bad.stdout == ""
    assert '"code": "INVALID_NAME"' in bad.stderr


def test_init_json_names_the_files(cli: Cli) -> None:
    data = json_of(cli.ok("init", "svc", "--dir", "elsewhere/svc", "-o", "json"))
    assert data["name"] == "svc" and data["path"] == "elsewhere/svc"
    assert sorted(Path(f).name for f in data["files"]) == [
        ".faasignore",
        "app.py",
        "requirements.txt",
    ]


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_faasignore_patterns_negations_and_built_in_ignores(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app.py": "",
            "lib/util.py": "",
            "lib/__pycache__/util.cpython-311.pyc": "",
            ".git/HEAD": "",
            ".venv/bin/python": "",
            "data/big.bin": "",
            "data/small.txt": "",
            "debug.log": "",
            "keep.log": "",
            "sub/dir/notes.md": "",
            "docs/readme.md": "",
            ".faasignore": "# comment\n*.log\n!keep.log\ndata/\n/docs\n!data/small.txt\n",
        },
    )
    os.symlink(tmp_path / "app.py", tmp_path / "link.py")
    files, skipped = bundle.included_files(tmp_path)
    # data/ is left out whole: as in git, a file in an ignored folder cannot be re-included.
    assert files == ["app.py", "keep.log", "lib/util.py", "sub/dir/notes.md"]
    assert skipped == ["link.py"]


def test_a_zipped_folder_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    _tree(tmp_path / "fn", {"app.py": "print(1)\n", "a/b.py": "x = 2\n"})
    with bundle.prepare(tmp_path / "fn") as first:
        one = first.path.read_bytes()
        assert first.filename == "fn.zip" and first.files == ["a/b.py", "app.py"]
        with zipfile.ZipFile(first.path) as archive:
            assert archive.read("app.py") == b"print(1)\n"
            assert all(not info.is_dir() for info in archive.infolist())
    os.utime(tmp_path / "fn" / "app.py", (1, 1))
    with bundle.prepare(tmp_path / "fn") as second:
        assert second.path.read_bytes() == one
    assert not first.path.exists()  # the temporary zip is removed


@pytest.mark.parametrize(
    ("name", "code"),
    [("missing.py", "SOURCE_NOT_FOUND"), ("notes.txt", "UNSUPPORTED_SOURCE"), ("dir", "NO_APP_PY")],
)
def test_sources_that_cannot_be_uploaded_are_refused_locally(
    tmp_path: Path, name: str, code: str
) -> None:
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "dir").mkdir()
    with pytest.raises(CliError) as caught, bundle.prepare(tmp_path / name):
        pass
    assert caught.value.code == code
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("path", "expected"),
    [("my_func", "my-func"), ("my_func/app.py", "my-func"), ("tools/resize.py", "resize")],
)
def test_the_default_function_name_comes_from_the_folder_or_file(
    tmp_path: Path, path: str, expected: str
) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix:
        target.write_text("")
    else:
        target.mkdir()
    assert bundle.default_name(target) == expected

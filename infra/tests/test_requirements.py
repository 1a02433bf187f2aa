"""requirements.txt: plain requirement lines only; the toolchain's own packages are skipped."""

from pathlib import Path

import pytest

from infra_service.requirements import RequirementsRejected, pip_command, read_requirements


def _read(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return read_requirements(path)


def test_plain_requirements_are_kept_and_toolchain_packages_skipped(tmp_path: Path) -> None:
    wanted, notes = _read(
        tmp_path,
        "# deps\nspin-sdk == 3.4.1\ncomponentize_py==0.17.2\nhumanize>=4.0,<5\n"
        "simplejson[speedups]==3.19.2 ; python_version >= '3.8'\n\n",
    )
    assert wanted == ["humanize>=4.0,<5", "simplejson[speedups]==3.19.2 ; python_version >= '3.8'"]
    assert len(notes) == 2


@pytest.mark.parametrize(
    "line",
    [
        "-e git+https://example.com/x.git",
        "--index-url https://evil.example/simple",
        "-r other.txt",
        "pkg @ https://example.com/pkg.whl",
        "./local/package",
        "https://example.com/pkg.tar.gz",
    ],
)
def test_options_urls_and_paths_are_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    with pytest.raises(RequirementsRejected, match="line 2"):
        _read(tmp_path, f"humanize\n{line}\n")


def test_pip_accepts_only_pure_python_wheels(tmp_path: Path) -> None:
    command = pip_command(requirements=["humanize"], target=tmp_path, index_url=None)
    assert "--only-binary=:all:" in command
    assert command[command.index("--platform") + 1] == "any"
    assert command[command.index("--abi") + 1] == "none"
    assert command[-1] == "humanize"

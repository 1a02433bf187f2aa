"""`requirements.txt` in a zip: pure-Python wheels only, installed into the build's scratch folder.

A component cannot load native extension modules built for the host, so pip is told to accept
nothing but `py3-none-any` wheels (`--only-binary=:all: --platform any --abi none`); it never
runs a package's setup code. Lines are plain requirement specifiers: options, URLs and local
paths are refused, so a source cannot redirect pip elsewhere. spin-sdk and componentize-py
come from the service's own pinned toolchain and are skipped.
"""

import re
import sys
from pathlib import Path

from infra_service.jobs import JobFailure

TOOLCHAIN_PACKAGES = frozenset({"spin-sdk", "componentize-py"})
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(\[[A-Za-z0-9._,\s-]*\])?"
    r"\s*(?P<spec>((===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)*)"
    r"(;\s*[^#@]*)?$"
)
MAX_LINES = 200


class RequirementsRejected(JobFailure):
    def __init__(self, message: str) -> None:
        super().__init__("BUILD_FAILED", message)


def read_requirements(path: Path) -> tuple[list[str], list[str]]:
    """The requirements to install, and notes about the lines skipped."""
    wanted: list[str] = []
    notes: list[str] = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) > MAX_LINES:
        raise RequirementsRejected(f"requirements.txt has more than {MAX_LINES} lines.")
    for number, raw in enumerate(lines, start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _REQUIREMENT.match(line)
        if line.startswith("-") or "://" in line or match is None:
            raise RequirementsRejected(
                f"requirements.txt, line {number}: {line[:100]!r} is not a plain requirement "
                "(name and version only; options, URLs and paths are not accepted)."
            )
        name = re.sub(r"[-_.]+", "-", match["name"]).lower()
        if name in TOOLCHAIN_PACKAGES:
            notes.append(f"requirements.txt line {number}: {name} is provided by the toolchain")
            continue
        wanted.append(line)
    return wanted, notes


def pip_command(
    *,
    requirements: list[str],
    target: Path,
    index_url: str | None,
    find_links: str | None = None,
) -> list[str]:
    """pip, restricted to pure-Python wheels for the Python that componentize-py embeds."""
    command = [
        sys.executable, "-m", "pip", "install",
        "--only-binary=:all:", "--platform", "any", "--implementation", "py",
        "--abi", "none", "--python-version", "3.11",
        "--target", str(target), "--no-compile", "--progress-bar", "off",
    ]  # fmt: skip
    if index_url:
        command += ["--index-url", index_url]
    if find_links:
        command += ["--no-index", "--find-links", find_links]
    return [*command, *requirements]


PURE_PYTHON_HINT = (
    "Only pure-Python packages (py3-none-any wheels) can be bundled into a component; "
    "packages with native extensions (numpy, pydantic-core, ...) cannot."
)
